// The ppocr web page: upload a file to /v1/ocr, draw the boxes over the returned page images and list the text.
(() => {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const drop = document.getElementById("drop");
  const input = document.getElementById("file");
  const status = document.getElementById("status");
  const toolbar = document.getElementById("toolbar");
  const summary = document.getElementById("summary");
  const pagesBox = document.getElementById("pages");
  const template = document.getElementById("page-template");
  let last = null; // the last response, for copy and download

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function allText(response) {
    return response.pages
      .filter((page) => page.results)
      .map((page) => page.results.map((item) => item.transcription).join("\n"))
      .join("\n\n");
  }

  function select(article, index) {
    article.querySelectorAll(".active").forEach((el) => el.classList.remove("active"));
    article.querySelectorAll(`[data-index="${index}"]`).forEach((el) => el.classList.add("active"));
    const line = article.querySelector(`li[data-index="${index}"]`);
    if (line) line.scrollIntoView({ block: "nearest" });
  }

  function renderPage(page) {
    const article = template.content.firstElementChild.cloneNode(true);
    article.querySelector(".page-title").textContent = page.key;
    const list = article.querySelector(".lines");
    if (page.error) {
      article.querySelector(".view").remove();
      const message = document.createElement("p");
      message.className = "error";
      message.textContent = page.error;
      list.replaceWith(message);
      return article;
    }
    article.querySelector("img").src = page.image;
    const svg = article.querySelector("svg");
    svg.setAttribute("viewBox", `0 0 ${page.width} ${page.height}`);
    page.results.forEach((item, index) => {
      const polygon = document.createElementNS(SVG, "polygon");
      polygon.setAttribute("points", item.points.map((p) => p.join(",")).join(" "));
      polygon.dataset.index = index;
      polygon.addEventListener("click", () => select(article, index));
      svg.appendChild(polygon);
      const li = document.createElement("li");
      li.dataset.index = index;
      const text = document.createElement("span");
      text.className = "text";
      text.textContent = item.transcription;
      li.appendChild(text);
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = item.score.toFixed(3);
      li.appendChild(score);
      li.addEventListener("click", () => select(article, index));
      list.appendChild(li);
    });
    if (!page.results.length) {
      const none = document.createElement("li");
      none.className = "none";
      none.textContent = "no text found";
      list.appendChild(none);
    }
    return article;
  }

  async function upload(file) {
    if (!file) return;
    pagesBox.replaceChildren();
    toolbar.hidden = true;
    last = null;
    say(`Reading ${file.name}…`);
    const form = new FormData();
    form.append("file", file, file.name);
    let response;
    let body;
    try {
      response = await fetch("/v1/ocr?return_image=true", { method: "POST", body: form });
      const text = await response.text();
      try {
        body = JSON.parse(text);
      } catch (err) {
        body = { detail: text.trim() || response.statusText };
      }
    } catch (err) {
      say(`The server did not answer: ${err}`, true);
      return;
    }
    if (!response.ok) {
      say(`${response.status}: ${body.detail || response.statusText}`, true);
      return;
    }
    last = body;
    body.pages.forEach((page) => pagesBox.appendChild(renderPage(page)));
    const lines = body.pages.reduce((n, page) => n + (page.results ? page.results.length : 0), 0);
    summary.textContent = `${body.file}: ${body.pages.length} page(s), ${lines} line(s) in ${body.seconds.toFixed(2)} s`;
    toolbar.hidden = false;
    say("Done.");
  }

  async function copyText() {
    if (!last) return;
    const text = allText(last);
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    say("Text copied.");
  }

  function downloadJson() {
    if (!last) return;
    const blob = new Blob([JSON.stringify(last, null, 2)], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${last.file.replace(/\.[^.]*$/, "") || "ocr"}.json`;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  input.addEventListener("change", () => {
    const file = input.files[0];
    input.value = ""; // picking the same file again reads it again
    upload(file);
  });
  drop.addEventListener("keydown", (event) => { if (event.key === "Enter") input.click(); });
  ["dragenter", "dragover"].forEach((type) => drop.addEventListener(type, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => drop.addEventListener(type, (event) => {
    event.preventDefault();
    drop.classList.remove("over");
  }));
  drop.addEventListener("drop", (event) => upload(event.dataTransfer.files[0]));
  document.getElementById("copy").addEventListener("click", copyText);
  document.getElementById("download").addEventListener("click", downloadJson);
})();
