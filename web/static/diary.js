// Keyboard shortcuts of the diary: a link marked data-key="x" is followed
// when x is pressed outside a form field; the arrow keys step back and on.
(function () {
  'use strict';
  document.addEventListener('keydown', function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var t = ev.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(t.tagName))) return;
    var key = ev.key;
    if (key === 'ArrowLeft') key = 'p';
    if (key === 'ArrowRight') key = 'n';
    if (!/^[a-z]$/.test(key)) return;
    var link = document.querySelector('.diary a[data-key="' + key + '"]');
    if (link) {
      ev.preventDefault();
      window.location.assign(link.href);
    }
  });
})();
