// The conversation page: send a message and show the replies as they stream in.
//
// The form posts to the same URL with or without this script. With it, the request
// asks for text/event-stream and each reply's text is appended as it arrives (as
// text, never as HTML); when every reply has arrived or failed, the page reloads to
// show the judging form the server renders. Without it, the form posts and the page
// comes back once every reply is in.
(function () {
  "use strict";

  function parseEvents(buffer, handle) {
    let cut;
    while ((cut = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message";
      const data = [];
      block.split("\n").forEach((line) => {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      });
      if (data.length) handle(name, JSON.parse(data.join("\n")));
    }
    return buffer;
  }

  function replyBox(live, position) {
    let box = live.querySelector(`[data-position="${position}"]`);
    if (box) return box;
    box = document.createElement("article");
    box.className = "candidate reply streaming";
    box.dataset.position = String(position);
    const heading = document.createElement("h3");
    heading.textContent = `Reply ${position}`;
    const text = document.createElement("div");
    text.className = "text reply-text";
    const state = document.createElement("p");
    state.className = "reply-state meta";
    state.textContent = "Writing…";
    box.append(heading, text, state);
    live.append(box);
    return box;
  }

  async function stream(form, submitter) {
    const live = document.getElementById("live-replies");
    const status = document.getElementById("stream-status");
    const body = new FormData(form);
    if (submitter && submitter.name) body.append(submitter.name, submitter.value);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((button) => (button.disabled = true));
    status.textContent = "Asking the assistants…";
    live.replaceChildren();
    let finished = false;
    const response = await fetch(form.action, {
      method: "POST",
      body,
      headers: { Accept: "text/event-stream" },
      credentials: "same-origin",
    });
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const handle = (name, data) => {
      if (name === "start") {
        live.hidden = false;
        data.replies.forEach((position) => replyBox(live, position));
      } else if (name === "delta") {
        replyBox(live, data.position).querySelector(".reply-text").append(data.text);
      } else if (name === "reply") {
        const box = replyBox(live, data.position);
        box.classList.remove("streaming");
        box.querySelector(".reply-state").textContent = "Done.";
      } else if (name === "failed") {
        const box = replyBox(live, data.position);
        box.classList.remove("streaming");
        box.classList.add("reply-failed");
        box.querySelector(".reply-state").textContent = data.message;
      } else if (name === "error") {
        finished = true;
        status.textContent = data.message;
        status.classList.add("stream-error");
        buttons.forEach((button) => (button.disabled = false));
      } else if (name === "done") {
        finished = true;
        status.textContent = data.message || "All replies are in.";
        window.location.assign(window.location.pathname);
      }
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseEvents(buffer + decoder.decode(value, { stream: true }), handle);
    }
    if (!finished) window.location.assign(window.location.pathname);
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.fetch || !window.ReadableStream || !window.TextDecoder) return;
    document.querySelectorAll("form[data-stream]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        stream(form, event.submitter).catch(() => form.submit());
      });
    });
    const message = document.getElementById("message");
    if (message) {
      message.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          message.form.requestSubmit();
        }
      });
    }
    // Editing starts from the reply one prefers.
    const edit = document.getElementById("edited-text");
    if (edit) {
      document.querySelectorAll('input[name="choice"]').forEach((radio) => {
        radio.addEventListener("change", () => {
          const reply = radio.closest("[data-reply]");
          const text = reply && reply.querySelector(".reply-text");
          if (text && (!edit.value || edit.dataset.prefilled === "1")) {
            edit.value = text.textContent;
            edit.dataset.prefilled = "1";
          }
        });
      });
      edit.addEventListener("input", () => (edit.dataset.prefilled = "0"));
    }
  });
})();
