// Researcher workbench: share sums while pasting targets, a preview of
// an import file's first lines, confirmation of irreversible buttons. Every page
// works without it; the server checks everything again.
(function () {
  "use strict";

  function cells(line) {
    for (const separator of ["\t", ",", ";"]) {
      if (line.includes(separator)) return line.split(separator).map((c) => c.trim());
    }
    return line.trim().split(/\s+/);
  }

  function sharePreview(textarea, box) {
    const sums = new Map();
    const problems = [];
    textarea.value.split(/\r?\n/).forEach((line, index) => {
      if (!line.trim()) return;
      const row = cells(line).filter((c) => c !== "");
      if (row.length !== 3) {
        problems.push(`Line ${index + 1}: give attribute, value, share.`);
        return;
      }
      const raw = row[2];
      let share = parseFloat(raw.replace("%", ""));
      if (Number.isNaN(share)) {
        if (index > 0 || sums.size) problems.push(`Line ${index + 1}: ${raw} is not a number.`);
        return;
      }
      if (raw.endsWith("%")) share /= 100;
      sums.set(row[0], (sums.get(row[0]) || 0) + share);
    });
    box.replaceChildren();
    if (!sums.size && !problems.length) return;
    const list = document.createElement("ul");
    list.className = "plain-list";
    sums.forEach((total, name) => {
      const item = document.createElement("li");
      const ok = Math.abs(total - 1) < 1e-6;
      item.className = ok ? "sum-ok" : "sum-bad";
      item.textContent = `${name}: shares add up to ${+total.toFixed(6)}${ok ? " ✓" : " (must be 1)"}`;
      list.append(item);
    });
    problems.forEach((text) => {
      const item = document.createElement("li");
      item.className = "sum-bad";
      item.textContent = text;
      list.append(item);
    });
    box.append(list);
  }

  function filePreview(input, box) {
    box.replaceChildren();
    const file = input.files && input.files[0];
    if (!file) return;
    if (/\.(gz|parquet|arrow)$/i.test(file.name)) {
      // Compressed or columnar: the check after upload shows its first rows.
      const note = document.createElement("p");
      note.className = "meta";
      note.textContent = `${file.name} (${file.size.toLocaleString()} bytes) is read on the server; its first rows show in the report.`;
      box.append(note);
      return;
    }
    file.slice(0, 64 * 1024).text().then((text) => {
      const lines = text.split(/\r?\n/).filter((l) => l.trim()).slice(0, 5);
      const heading = document.createElement("p");
      heading.className = "meta";
      heading.textContent = `First lines of ${file.name} (${file.size.toLocaleString()} bytes):`;
      const pre = document.createElement("pre");
      pre.className = "wrap";
      pre.textContent = lines.map((l) => (l.length > 300 ? l.slice(0, 300) + "…" : l)).join("\n");
      box.append(heading, pre);
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const shares = document.querySelector("textarea[data-shares]");
    const shareBox = document.getElementById("share-preview");
    if (shares && shareBox) {
      shares.addEventListener("input", () => sharePreview(shares, shareBox));
      sharePreview(shares, shareBox);
    }
    const file = document.querySelector("input[type=file]");
    const fileBox = document.getElementById("file-preview");
    if (file && fileBox) file.addEventListener("change", () => filePreview(file, fileBox));

    document.querySelectorAll("[data-confirm]").forEach((button) => {
      button.addEventListener("click", (event) => {
        if (!window.confirm(button.dataset.confirm)) event.preventDefault();
      });
    });
  });
})();
