"""The server a PyTorch user would write for AlexNet (FastAPI + uvicorn, as most tutorials do):
torchvision's AlexNet with the given weights, torchvision's preprocessing on a PIL image, and
TorchServe's answer shape ({"label": probability}, top 5) at POST /predictions/alexnet.

    WEIGHTS=tv.safetensors THREADS=2 MODE=threadpool uvicorn fastapi_server:app --port 8081

MODE=inline runs the model in the event loop (an `async def` route, as many tutorials write
it); MODE=threadpool in Starlette's thread pool (a plain `def` route). The benchmark tries both.
"""
import io
import os

import torch
import torchvision
import torchvision.transforms as T
from fastapi import FastAPI, HTTPException, Request
from PIL import Image
from safetensors.torch import load_file

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
model = torchvision.models.alexnet()
model.load_state_dict(load_file(os.environ["WEIGHTS"]))
model.eval()
categories = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta["categories"]
transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                       T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
app = FastAPI()


def classify(body: bytes) -> dict:
    try:
        image = Image.open(io.BytesIO(body)).convert("RGB")
    except Exception as error:
        raise HTTPException(status_code=400, detail=str(error))
    with torch.inference_mode():
        probabilities = torch.softmax(model(transform(image).unsqueeze(0)), dim=1)[0]
    top = torch.topk(probabilities, 5)
    return {categories[i]: float(p) for p, i in zip(top.values.tolist(), top.indices.tolist())}


if os.environ.get("MODE", "threadpool") == "inline":
    @app.post("/predictions/alexnet")
    async def predict(request: Request):
        return classify(await request.body())
else:
    from starlette.concurrency import run_in_threadpool

    @app.post("/predictions/alexnet")
    async def predict(request: Request):
        body = await request.body()
        return await run_in_threadpool(classify, body)


@app.get("/ping")
def ping():
    return {"status": "Healthy"}
