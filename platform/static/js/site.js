// Progressive enhancement for the annotate page: keyboard shortcuts, reordering a
// ranking, and time on task. Every form works without it.
//
// Loaded in <head> (not deferred) so the "js" class is set before first paint and
// the no-JS controls never flash; everything else waits for the DOM.
document.documentElement.classList.replace("no-js", "js");

(function () {
  "use strict";

  function isTyping(target) {
    return Boolean(
      target.closest && target.closest("input, textarea, select, [contenteditable]")
    );
  }

  function submitWith(form, button) {
    if (form.requestSubmit) {
      form.requestSubmit(button || undefined);
    } else if (button) {
      button.click();
    } else {
      form.submit();
    }
  }

  function setUpRanking(form, list) {
    const status = document.getElementById("rank-status");
    const items = () => Array.from(list.querySelectorAll(":scope > li"));

    // The rank selects stay the source of truth the server reads; the list order
    // just fills them in.
    function renumber() {
      items().forEach((li, index) => {
        const select = li.querySelector("select");
        if (select) select.value = String(index + 1);
        const position = li.querySelector(".position");
        if (position) position.textContent = String(index + 1);
      });
    }

    function move(li, delta) {
      const sibling = delta < 0 ? li.previousElementSibling : li.nextElementSibling;
      if (!sibling) return;
      list.insertBefore(li, delta < 0 ? sibling : sibling.nextElementSibling);
      renumber();
      li.focus();
      if (status) {
        const all = items();
        status.textContent =
          "Response " + li.dataset.letter + " is now " + (all.indexOf(li) + 1) +
          " of " + all.length + ".";
      }
    }

    list.addEventListener("keydown", (event) => {
      const li = event.target;
      if (!li.matches || !li.matches("li.rank-item") || event.ctrlKey || event.altKey ||
          event.metaKey) {
        return;
      }
      if (event.key === "ArrowUp" || event.key === "u") {
        move(li, -1);
      } else if (event.key === "ArrowDown" || event.key === "d") {
        move(li, 1);
      } else if (event.key === "Enter") {
        submitWith(form);
      } else {
        return;
      }
      event.preventDefault();
    });

    list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-move]");
      if (button) move(button.closest("li"), Number(button.dataset.move));
    });

    let dragged = null;
    list.addEventListener("dragstart", (event) => {
      dragged = event.target.closest("li.rank-item");
      if (!dragged) return;
      dragged.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.letter);
    });
    list.addEventListener("dragover", (event) => {
      if (!dragged) return;
      event.preventDefault();
      const over = event.target.closest("li.rank-item");
      if (!over || over === dragged) return;
      const box = over.getBoundingClientRect();
      const after = event.clientY > box.top + box.height / 2;
      list.insertBefore(dragged, after ? over.nextElementSibling : over);
    });
    list.addEventListener("dragend", () => {
      if (!dragged) return;
      dragged.classList.remove("dragging");
      dragged = null;
      renumber();
    });

    renumber();
  }

  // <time data-local> holds a UTC moment the server wrote as "4 Dec 2026, 19:11 UTC";
  // show it in the viewer's own time zone, in the same format.
  const TIME_FORMATS = {
    date: { day: "numeric", month: "short", year: "numeric" },
    time: { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" },
    datetime: {
      day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
      hourCycle: "h23", timeZoneName: "short",
    },
  };

  function localTimes(root) {
    for (const node of root.querySelectorAll("time[data-local]")) {
      const moment = new Date(node.getAttribute("datetime"));
      const format = TIME_FORMATS[node.dataset.local];
      if (Number.isNaN(moment.getTime()) || !format) continue;
      if (!node.title) node.title = node.textContent.trim();
      node.textContent = new Intl.DateTimeFormat("en-GB", format).format(moment);
    }
  }

  document.addEventListener("DOMContentLoaded", () => localTimes(document));

  // A button with data-copy="<id>" copies that field's value (or that element's text).
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-copy]").forEach((button) => {
      const label = button.textContent;
      button.addEventListener("click", () => {
        const source = document.getElementById(button.dataset.copy);
        if (!source) return;
        const text = "value" in source ? source.value : source.textContent.trim();
        const done = () => {
          button.textContent = "Copied";
          setTimeout(() => (button.textContent = label), 2000);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, () => source.select && source.select());
        } else if (source.select) {
          source.select();
          document.execCommand("copy");
          done();
        }
      });
    });
  });

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("answer-form");
    if (!form) return;

    form.addEventListener("submit", () => {
      const field = form.elements.namedItem("time_on_task_ms");
      // performance.now() counts from when this page started loading.
      if (field) field.value = String(Math.round(performance.now()));
    });

    const list = document.getElementById("rank-list");
    if (list) setUpRanking(form, list);

    const choiceButtons = form.querySelectorAll("button[data-key]");
    // When the campaign asks for confidence, a choice key waits for a second key, 1-5,
    // that says how confident: two keys answer the whole form (Escape takes it back).
    const confidence = form.querySelectorAll("input[type=radio][name=confidence]");
    const keyStatus = document.getElementById("key-status");
    let pending = null;

    function say(text) {
      if (keyStatus) keyStatus.textContent = text;
    }

    const choiceStatus = document.getElementById("choice-status");
    const scale = confidence.length ? confidence[0].closest("fieldset") : null;

    function confident() {
      return Array.from(confidence).some((radio) => radio.checked);
    }

    function hold(button) {
      if (pending) pending.setAttribute("aria-pressed", "false");
      pending = button;
      button.setAttribute("aria-pressed", "true");
      if (scale) scale.classList.add("awaiting");
    }

    function release() {
      if (pending) pending.setAttribute("aria-pressed", "false");
      pending = null;
      if (scale) scale.classList.remove("awaiting");
      say("");
      if (choiceStatus) choiceStatus.textContent = "";
    }

    function choose(button) {
      if (confidence.length === 0 || confident()) {
        submitWith(form, button);
        return;
      }
      hold(button);
      say(button.dataset.label + ". Now press 1 to 5: how confident are you? (Escape: undo)");
    }

    // The mouse (or a finger) completes the same way the keys do: a choice clicked
    // before a confidence waits for one, says so beside the buttons and marks the
    // scale; picking a confidence then sends both. Without this script the server
    // answers "Say how confident you are." and keeps the page.
    form.addEventListener("click", (event) => {
      const button = event.target.closest && event.target.closest("button[data-key]");
      if (!button || confidence.length === 0 || confident()) return;
      event.preventDefault();
      hold(button);
      if (choiceStatus) {
        choiceStatus.textContent =
          button.dataset.label + ". Now choose how confident you are; your answer is sent then.";
      }
      if (scale) scale.scrollIntoView({ block: "nearest" });
      confidence[0].focus({ preventScroll: true });
    });
    for (const radio of confidence) {
      radio.addEventListener("change", () => {
        if (pending) submitWith(form, pending);
      });
    }

    document.addEventListener("keydown", (event) => {
      if (event.altKey || event.metaKey || event.defaultPrevented) return;
      if (event.ctrlKey && event.key === "Enter" && choiceButtons.length === 0) {
        event.preventDefault();
        submitWith(form);
        return;
      }
      if (event.ctrlKey || isTyping(event.target)) return;
      if (pending) {
        const radio = Array.from(confidence).find((input) => input.value === event.key);
        if (radio) {
          event.preventDefault();
          radio.checked = true;
          submitWith(form, pending);
        } else if (event.key === "Escape") {
          release();
        }
        return;
      }
      for (const button of choiceButtons) {
        if (button.dataset.key === event.key) {
          event.preventDefault();
          choose(button);
          return;
        }
      }
    });
  });
})();
