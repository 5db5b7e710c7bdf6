// The simulator without page reloads: send with fetch, then poll the transcript fragment.
(function () {
  "use strict";
  const thread = document.getElementById("thread");
  const form = document.getElementById("say");
  if (!thread || !form) return;
  const src = thread.dataset.src;
  let last = "";

  async function refresh() {
    const response = await fetch(src, { credentials: "same-origin" });
    if (!response.ok) return;
    const html = await response.text();
    if (html !== last) {
      last = html;
      thread.innerHTML = html;  // server-rendered and escaped by the template
      thread.scrollTop = thread.scrollHeight;
    }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const input = form.elements.namedItem("text");
    if (!input.value.trim()) return;
    const body = new FormData(form);
    input.value = "";
    await fetch(form.action, { method: "POST", body: body, credentials: "same-origin" });
    await refresh();
  });

  setInterval(refresh, 1000);
  thread.scrollTop = thread.scrollHeight;
})();
