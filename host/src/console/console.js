// Progressive help only: every page works without it. Adds a "Copy" button under each
// copyable block.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("pre.copy").forEach(function (block) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copybtn secondary";
    button.textContent = "Copy";
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(block.innerText).then(function () {
        button.textContent = "Copied";
      });
    });
    block.insertAdjacentElement("afterend", button);
  });
});
