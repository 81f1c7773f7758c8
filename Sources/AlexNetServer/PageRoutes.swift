import AlexNet
import FoundationEssentials
import Hummingbird

/// `GET /`: a page where a person drops or picks an image and sees it with its top five
/// classes as bars, the time taken, and the model's name, classes and input size. Everything
/// (HTML, CSS, JS) is in the binary; the page calls TorchServe's route like any client.
struct PageRoutes {
    let model: ModelRoutes

    func add(to router: Router<some RequestContext>) {
        let page = Self.html.replacingOccurrences(of: "__MODEL__", with: modelJSON)
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: page)))
        }
    }

    /// What the page shows about the model, as a JS object literal (safe inside `<script>`).
    var modelJSON: String {
        let dimensions = model.inputDimensions.map(String.init).joined(separator: ", ")
        let names = model.classifier.classNames.map(JSONText.string).joined(separator: ", ")
        let text = "{\"name\": \(JSONText.string(model.name)), \"input\": [\(dimensions)], \"classes\": [\(names)], \"source\": \(JSONText.string(model.classifier.model.source.split(separator: "/").last.map(String.init) ?? ""))}"
        return text.replacingOccurrences(of: "</", with: "<\\/")
    }

    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>AlexNet</title>
    <style>
      :root { --ink: #1d2433; --muted: #667085; --line: #e4e7ec; --accent: #2f6fde; --paper: #f7f8fa; }
      * { box-sizing: border-box; }
      body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--paper); }
      main { max-width: 880px; margin: 0 auto; padding: 28px 20px 40px; }
      header h1 { margin: 0; font-size: 24px; }
      header p { margin: 4px 0 0; color: var(--muted); }
      #drop { display: block; margin-top: 20px; border: 2px dashed #b8c2d6; border-radius: 12px; background: #fff; padding: 26px; text-align: center; cursor: pointer; transition: border-color .15s, background .15s; }
      #drop.over { border-color: var(--accent); background: #eef4ff; }
      #drop strong { color: var(--accent); }
      #file { display: none; }
      #result { display: none; margin-top: 22px; gap: 24px; align-items: flex-start; }
      #result.shown { display: flex; flex-wrap: wrap; }
      #preview { width: 260px; max-height: 260px; object-fit: contain; border-radius: 10px; background: #fff; border: 1px solid var(--line); }
      #answer { flex: 1; min-width: 280px; }
      .row { display: grid; grid-template-columns: minmax(90px, 38%) 1fr 62px; gap: 10px; align-items: center; margin: 7px 0; }
      .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
      .track { height: 16px; background: #e9edf5; border-radius: 8px; overflow: hidden; }
      .bar { height: 100%; background: var(--accent); border-radius: 8px; min-width: 2px; }
      .row:first-child .bar { background: #1f9d55; }
      .pct { text-align: right; font-variant-numeric: tabular-nums; color: var(--muted); }
      #time { color: var(--muted); margin-top: 10px; font-size: 13px; }
      #error { display: none; margin-top: 18px; padding: 12px 14px; border-radius: 8px; background: #fdecea; color: #8a1c12; }
      details { margin-top: 26px; color: var(--muted); }
      details ol { columns: 3; font-size: 13px; }
      code { background: #eef0f4; padding: 1px 5px; border-radius: 4px; font-size: 13px; }
      pre { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; overflow-x: auto; font-size: 12.5px; }
    </style>
    </head>
    <body>
    <main>
      <header>
        <h1 id="title">AlexNet</h1>
        <p id="about"></p>
      </header>
      <label id="drop" for="file">
        <div><strong>Choose an image</strong> or drop one here (JPEG or PNG)</div>
        <input id="file" type="file" accept="image/jpeg,image/png">
      </label>
      <div id="error" role="alert"></div>
      <section id="result">
        <img id="preview" alt="the image classified">
        <div id="answer">
          <div id="bars"></div>
          <div id="time"></div>
        </div>
      </section>
      <details>
        <summary id="class-count">Classes</summary>
        <ol id="classes" start="0"></ol>
      </details>
      <details>
        <summary>From a program</summary>
        <pre id="api"></pre>
      </details>
    </main>
    <script>
    const MODEL = __MODEL__;
    const $ = (id) => document.getElementById(id);
    $("title").textContent = "AlexNet \u00b7 " + MODEL.name;
    $("about").textContent = MODEL.classes.length + " classes \u00b7 input " + MODEL.input.join("\u00d7") +
      (MODEL.source ? " \u00b7 " + MODEL.source : "");
    $("class-count").textContent = "The " + MODEL.classes.length + " classes";
    for (const name of MODEL.classes) { const li = document.createElement("li"); li.textContent = name; $("classes").appendChild(li); }
    const base = location.origin;
    $("api").textContent =
      "curl " + base + "/predictions/" + MODEL.name + " -T cat.jpg\n" +
      "curl " + base + "/predictions/" + MODEL.name + " -F data=@cat.jpg\n" +
      "curl " + base + "/v2/models/" + MODEL.name + "\n" +
      "curl " + base + "/metrics";

    function showError(text) { $("error").textContent = text; $("error").style.display = "block"; }

    async function classify(file) {
      $("error").style.display = "none";
      if (!file) return;
      $("preview").src = URL.createObjectURL(file);
      const started = performance.now();
      let response;
      try {
        response = await fetch("/predictions/" + encodeURIComponent(MODEL.name) + "?top=5", {
          method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file });
      } catch (error) { showError("The server did not answer: " + error); return; }
      const elapsed = performance.now() - started;
      let body;
      try { body = await response.json(); } catch { body = { error: "the answer was not JSON (" + response.status + ")" }; }
      if (!response.ok) { $("result").classList.remove("shown"); showError(body.error || ("HTTP " + response.status)); return; }
      const bars = $("bars");
      bars.replaceChildren();
      for (const [name, probability] of Object.entries(body)) {
        const row = document.createElement("div");
        row.className = "row";
        row.dataset.label = name;
        row.dataset.probability = probability;
        const label = document.createElement("span"); label.className = "name"; label.textContent = name; label.title = name;
        const track = document.createElement("div"); track.className = "track";
        const bar = document.createElement("div"); bar.className = "bar"; bar.style.width = (100 * probability).toFixed(1) + "%";
        track.appendChild(bar);
        const pct = document.createElement("span"); pct.className = "pct"; pct.textContent = (100 * probability).toFixed(1) + "%";
        row.append(label, track, pct);
        bars.appendChild(row);
      }
      const timing = response.headers.get("Server-Timing") || "";
      const part = (key) => { const m = timing.match(new RegExp(key + ";dur=([0-9.]+)")); return m ? parseFloat(m[1]).toFixed(1) : "?"; };
      $("time").textContent = "Answered in " + elapsed.toFixed(0) + " ms (decoding " + part("decode") +
        " ms, queue and inference " + part("batch") + " ms on the server)";
      $("result").classList.add("shown");
    }

    $("file").addEventListener("change", (event) => classify(event.target.files[0]));
    const drop = $("drop");
    for (const kind of ["dragenter", "dragover"]) drop.addEventListener(kind, (e) => { e.preventDefault(); drop.classList.add("over"); });
    for (const kind of ["dragleave", "drop"]) drop.addEventListener(kind, (e) => { e.preventDefault(); drop.classList.remove("over"); });
    drop.addEventListener("drop", (e) => classify(e.dataTransfer.files[0]));
    </script>
    </body>
    </html>
    """#
}
