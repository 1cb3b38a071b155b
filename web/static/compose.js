// The compose form's enhancements (web/templates/compose.html). The form
// works without this file: a plain-text body, a "Save draft" button, and
// recent recipients as a <datalist>. With it:
//   - the body is a rich-text editor (contenteditable) whose HTML goes in
//     the hidden "html" field; the server sanitises it and writes the
//     plain-text alternative itself;
//   - the draft is saved every 20 seconds when something changed, and when
//     the page is left;
//   - files over the size limit are caught before they are uploaded;
//   - the address fields suggest colleagues and recent recipients.
(function () {
  'use strict';
  var form = document.getElementById('compose-form');
  if (!form) return;
  var textarea = document.getElementById('body-text');
  var htmlField = document.getElementById('body-html');
  var formatField = document.getElementById('body-format');
  var draftField = document.getElementById('draft-id');
  var status = document.getElementById('draft-status');
  var fileInput = document.getElementById('attach');
  var maxSize = parseInt(form.getAttribute('data-max-size'), 10) || 0;
  var dirty = false, sending = false, inflight = null;

  // The editor.
  var label = document.getElementById('body-label');
  var bar = document.createElement('div');
  bar.className = 'editor-bar';
  bar.setAttribute('role', 'toolbar');
  bar.setAttribute('aria-label', 'Formatting');
  var editor = document.createElement('div');
  editor.className = 'editor';
  editor.id = 'body-editor';
  editor.contentEditable = 'true';
  editor.setAttribute('role', 'textbox');
  editor.setAttribute('aria-multiline', 'true');
  editor.setAttribute('aria-labelledby', 'body-label');
  // The field holds HTML the server sanitised.
  editor.innerHTML = htmlField.value || '';
  [['bold', 'Bold'], ['italic', 'Italic'], ['underline', 'Underline'],
    ['insertUnorderedList', 'Bulleted list'], ['insertOrderedList', 'Numbered list']].forEach(function (b) {
    var btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'secondary small';
    btn.textContent = b[1];
    btn.addEventListener('click', function () {
      editor.focus();
      document.execCommand(b[0], false, null);
      changed();
    });
    bar.appendChild(btn);
  });
  textarea.hidden = true;
  textarea.parentNode.insertBefore(bar, textarea);
  textarea.parentNode.insertBefore(editor, textarea);
  label.removeAttribute('for');
  label.addEventListener('click', function () { editor.focus(); });
  formatField.value = 'html';
  function syncBody() { htmlField.value = editor.innerHTML; formatField.value = 'html'; }
  function changed() { dirty = true; syncBody(); }
  editor.addEventListener('input', changed);
  form.addEventListener('input', function (e) { if (e.target !== editor) dirty = true; });
  form.addEventListener('change', function () { dirty = true; });

  // Size of the chosen files.
  function fileError(msg) {
    var p = document.getElementById('attach-client-error');
    if (!msg) {
      if (p) p.remove();
      fileInput.removeAttribute('aria-invalid');
      return;
    }
    if (!p) {
      p = document.createElement('p');
      p.className = 'field-error';
      p.id = 'attach-client-error';
      p.setAttribute('role', 'alert');
      fileInput.insertAdjacentElement('afterend', p);
      fileInput.setAttribute('aria-describedby', 'attach-client-error ' + (fileInput.getAttribute('aria-describedby') || ''));
    }
    p.textContent = msg;
    fileInput.setAttribute('aria-invalid', 'true');
  }
  function filesTooLarge() {
    var total = 0;
    for (var i = 0; i < fileInput.files.length; i++) {
      var f = fileInput.files[i];
      total += f.size;
      if (maxSize && total > maxSize) {
        fileError('"' + f.name + '" does not fit: a message may carry at most ' + form.getAttribute('data-max-label') + ' in all. Send large files as a link instead.');
        return true;
      }
    }
    fileError('');
    return false;
  }
  fileInput.addEventListener('change', filesTooLarge);

  // Drafts.
  function keptFiles(files) {
    var list = document.getElementById('kept-files');
    list.textContent = '';
    (files || []).forEach(function (f) {
      var li = document.createElement('li');
      var l = document.createElement('label');
      l.className = 'check';
      var box = document.createElement('input');
      box.type = 'checkbox';
      box.name = 'keep';
      box.value = String(f.id);
      box.checked = true;
      var size = document.createElement('span');
      size.className = 'muted small';
      size.textContent = f.size;
      l.appendChild(box);
      l.appendChild(document.createTextNode(' ' + f.name + ' '));
      l.appendChild(size);
      li.appendChild(l);
      list.appendChild(li);
    });
    var note = document.getElementById('attached-original');
    if (note) note.remove();
  }
  function save() {
    if (sending || inflight || !dirty || filesTooLarge()) return inflight || Promise.resolve();
    syncBody();
    dirty = false;
    var data = new FormData(form);
    data.set('op', 'save');
    status.textContent = 'Saving draft…';
    inflight = fetch(form.action, { method: 'POST', body: data, credentials: 'same-origin', headers: { 'X-Autosave': '1' } })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        if (!res.ok) {
          dirty = true;
          var errs = res.body.errors || {};
          status.textContent = 'Draft not saved: ' + (errs.attach || errs.to || errs.cc || errs.bcc || 'try again.');
          return;
        }
        draftField.value = String(res.body.draft);
        if (fileInput.files.length) fileInput.value = '';
        keptFiles(res.body.files);
        status.textContent = 'Draft saved at ' + res.body.saved + '.';
      })
      .catch(function () { dirty = true; status.textContent = 'Draft not saved: no connection.'; })
      .then(function () { inflight = null; });
    return inflight;
  }
  setInterval(save, 20000);
  form.addEventListener('submit', function (e) {
    syncBody();
    var op = e.submitter && e.submitter.value;
    if (filesTooLarge()) { e.preventDefault(); return; }
    if (inflight) {
      // A save is on its way: send once it has named the draft, so the
      // draft is removed with the sending.
      e.preventDefault();
      var again = e.submitter;
      inflight.then(function () { form.requestSubmit(again); });
      return;
    }
    if (op === 'send') sending = true;
    dirty = false;
  });
  // Leaving the page keeps what was written.
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState !== 'hidden' || sending || !dirty || filesTooLarge()) return;
    syncBody();
    var data = new FormData(form);
    data.set('op', 'save');
    if (navigator.sendBeacon(form.action, data)) dirty = false;
  });

  // Address suggestions.
  var seq = 0;
  document.querySelectorAll('input[data-suggest]').forEach(function (input) {
    input.removeAttribute('list');
    var box = document.createElement('ul');
    box.className = 'suggest';
    box.id = input.id + '-suggest';
    box.setAttribute('role', 'listbox');
    box.setAttribute('aria-label', 'Suggested addresses');
    box.hidden = true;
    input.insertAdjacentElement('afterend', box);
    input.setAttribute('role', 'combobox');
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-expanded', 'false');
    input.setAttribute('aria-controls', box.id);
    var active = -1, timer = null;
    function close() {
      box.hidden = true;
      box.textContent = '';
      active = -1;
      input.setAttribute('aria-expanded', 'false');
      input.removeAttribute('aria-activedescendant');
    }
    function current() {
      var v = input.value, i = Math.max(v.lastIndexOf(','), v.lastIndexOf(';'));
      return { head: i >= 0 ? v.slice(0, i + 1) + ' ' : '', tail: v.slice(i + 1).trim() };
    }
    function pick(value) {
      input.value = current().head + value + ', ';
      dirty = true;
      close();
      input.focus();
    }
    function mark(i) {
      var items = box.querySelectorAll('li');
      items.forEach(function (li, k) { li.setAttribute('aria-selected', k === i ? 'true' : 'false'); });
      active = i;
      if (items[i]) input.setAttribute('aria-activedescendant', items[i].id);
    }
    function show(list) {
      box.textContent = '';
      if (!list.length) { close(); return; }
      list.forEach(function (s, k) {
        var li = document.createElement('li');
        li.id = box.id + '-' + k;
        li.setAttribute('role', 'option');
        li.setAttribute('aria-selected', 'false');
        li.textContent = s.name && s.name !== s.email ? s.name + ' <' + s.email + '>' : s.email;
        li.addEventListener('mousedown', function (e) { e.preventDefault(); pick(s.value); });
        box.appendChild(li);
      });
      box.hidden = false;
      input.setAttribute('aria-expanded', 'true');
    }
    input.addEventListener('input', function () {
      clearTimeout(timer);
      var q = current().tail;
      if (q.length < 3) { close(); return; }
      timer = setTimeout(function () {
        var mine = ++seq;
        fetch('/mail/addresses?q=' + encodeURIComponent(q), { credentials: 'same-origin', headers: { Accept: 'application/json' } })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (list) { if (mine === seq) show(list); })
          .catch(close);
      }, 200);
    });
    input.addEventListener('keydown', function (e) {
      var n = box.querySelectorAll('li').length;
      if (box.hidden || !n) return;
      if (e.key === 'ArrowDown') { e.preventDefault(); mark((active + 1) % n); }
      else if (e.key === 'ArrowUp') { e.preventDefault(); mark((active - 1 + n) % n); }
      else if (e.key === 'Enter' && active >= 0) { e.preventDefault(); box.querySelectorAll('li')[active].dispatchEvent(new MouseEvent('mousedown')); }
      else if (e.key === 'Escape') { close(); }
    });
    input.addEventListener('blur', function () { setTimeout(close, 150); });
  });
})();
