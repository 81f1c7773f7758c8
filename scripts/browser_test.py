#!/usr/bin/env python3
"""The page of `alexnet serve` in a real browser (Debian's headless Chromium driven by Selenium).

Starts the server on a free port, opens the page, uploads Fashion-MNIST test images through
the file input, reads the bars from the DOM and checks them against `alexnet predict --json`
on the same files; uploads a file that is not an image and checks the page shows the server's
reason; saves a screenshot; stops the server with SIGTERM and checks it exits 0.

    scripts/browser_test.py ALEXNET CHECKPOINT SCREENSHOT.png
"""
import json, os, re, signal, subprocess, sys, tempfile, time, urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from fashion_png import png, test_images  # noqa: E402

alexnet, checkpoint, screenshot = sys.argv[1:4]
work = tempfile.mkdtemp(prefix="alexnet-browser-")


# Test images 0, 1 and 2 of Fashion-MNIST (an ankle boot, a pullover, a trouser), enlarged 8x
# so the page shows them at a size a person can see.
files = []
for k, small in enumerate(test_images(3)):
    big = bytes(small[(y // 8) * 28 + x // 8] for y in range(224) for x in range(224))
    files.append(os.path.join(work, f"test-{k}.png"))
    with open(files[-1], "wb") as f:
        f.write(png(big, 224, 224))
not_an_image = os.path.join(work, "notes.png")
with open(not_an_image, "w") as f:
    f.write("this is text, not a picture\n")

expected = {p["image"]: p["classes"] for p in json.loads(subprocess.check_output(
    [alexnet, "predict", "--checkpoint", checkpoint, "--json", *files]))}

server = subprocess.Popen([alexnet, "serve", "--checkpoint", checkpoint, "--port", "0"], stdout=subprocess.PIPE, text=True)
line = server.stdout.readline()
match = re.search(r"at (http://[0-9.]+:\d+/)", line)
if not match:
    server.kill()
    sys.exit(f"the server did not say where it listens: {line!r}")
url = match.group(1)
print("server:", line.strip())

options = Options()
for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,760",
                 "--hide-scrollbars"]:
    options.add_argument(argument)
options.binary_location = "/usr/bin/chromium"
browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
failures = []
try:
    browser.get(url)
    title = browser.find_element(By.ID, "title").text
    about = browser.find_element(By.ID, "about").text
    print("page:", title, "|", about)
    # The shape the page names must be the one the server's Open Inference Protocol metadata gives.
    name = re.search(r"Serving '([^']+)'", line).group(1)
    with urllib.request.urlopen(url + "v2/models/" + name) as reply:
        c, h, w = json.load(reply)["inputs"][0]["shape"][1:]
    shape = f"input {c}\u00d7{h}\u00d7{w}"
    if "10 classes" not in about or shape not in about.replace("x", "\u00d7"):
        failures.append(f"the page does not describe the model as {shape!r}: {about!r}")
    for path in files:
        browser.execute_script("document.getElementById('time').textContent = ''")
        browser.find_element(By.ID, "file").send_keys(path)
        WebDriverWait(browser, 20).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, "#bars .row") and b.execute_script(
                "return document.getElementById('preview').src") and
            b.find_element(By.ID, "time").text.startswith("Answered"))
        time.sleep(0.3)
        rows = browser.find_elements(By.CSS_SELECTOR, "#bars .row")
        shown = [(r.get_attribute("data-label"), float(r.get_attribute("data-probability"))) for r in rows]
        want = [(c["name"], c["probability"]) for c in expected[path]]
        print(os.path.basename(path), "->", ", ".join(f"{n} {p:.4f}" for n, p in shown))
        if [n for n, _ in shown] != [n for n, _ in want] or any(abs(a - b) > 1e-6 for (_, a), (_, b) in zip(shown, want)):
            failures.append(f"{path}: the page shows {shown}, predict says {want}")
        widths = [r.find_element(By.CSS_SELECTOR, ".bar").size["width"] for r in rows]
        if widths != sorted(widths, reverse=True) or widths[0] <= 0:
            failures.append(f"{path}: bar widths {widths} do not follow the probabilities")
        if path == files[0]:
            browser.save_screenshot(screenshot)
            print("screenshot:", screenshot)
    browser.find_element(By.ID, "file").send_keys(not_an_image)
    WebDriverWait(browser, 20).until(lambda b: b.find_element(By.ID, "error").is_displayed())
    error = browser.find_element(By.ID, "error").text
    print("error shown:", error)
    if "neither a JPEG nor a PNG" not in error:
        failures.append(f"the page shows {error!r} for a text file")
finally:
    browser.quit()
    server.send_signal(signal.SIGTERM)
    try:
        code = server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        code = "killed after 30 s"
    if code != 0:
        failures.append(f"the server exited with {code} after SIGTERM")

for failure in failures:
    print("FAIL:", failure)
print("browser test:", "FAILED" if failures else "passed")
sys.exit(1 if failures else 0)
