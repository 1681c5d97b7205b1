// Profile settings: the color picker, swatches and text field stay in step; live preview.
(function () {
  "use strict";
  const field = document.getElementById("color");
  const picker = document.getElementById("color-picker");
  const preview = document.getElementById("color-preview");
  if (!field || !picker || !preview) return;
  function show(value) {
    if (/^#[0-9A-Fa-f]{6}$/.test(value)) {
      preview.style.setProperty("color", value);
      picker.value = value.toLowerCase();
    }
  }
  field.addEventListener("input", function () { show(field.value.trim()); });
  picker.addEventListener("input", function () { field.value = picker.value.toUpperCase(); show(picker.value); });
  document.querySelectorAll("#swatches .swatch").forEach(function (b) {
    b.addEventListener("click", function () { field.value = b.dataset.color; show(b.dataset.color); });
  });
  show(field.value.trim());
})();
