// `import AlexNet` brings the whole library: the network as data and its layers' math
// (AlexNetNetwork), backends and plans (AlexNetBackends), datasets, images and the loader
// (AlexNetData), safetensors and ONNX (AlexNetInterop), training (AlexNetTraining), and here
// the inference API: `TrainedModel` and `Classifier`.
@_exported import AlexNetBackends
@_exported import AlexNetCore
@_exported import AlexNetData
@_exported import AlexNetInterop
@_exported import AlexNetNetwork
@_exported import AlexNetTraining
