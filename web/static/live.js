// Live updates of the staff mail pages (web/live.go): listens to
// /mail/events and, when a folder changes, sets the folder tree's unread
// counts and, on a message list, fetches the list again and swaps it in,
// keeping focus on the same message. New mail is announced politely.
// Without this script (or without EventSource) the pages work as before;
// a reload shows the same.
(function () {
  'use strict';
  if (!window.EventSource || !window.fetch || !window.DOMParser) return;

  var m = /^\/mail\/(\d+)(\/\d+)?$/.exec(location.pathname);
  var current = m ? m[1] : null;
  var onList = !!(m && !m[2]);

  // A polite live region, made before anything changes so that screen
  // readers have registered it.
  var news = document.createElement('div');
  news.id = 'live-news';
  news.className = 'vh';
  news.setAttribute('role', 'status');
  news.setAttribute('aria-live', 'polite');
  (document.querySelector('main') || document.body).appendChild(news);

  function folderLinks() {
    return document.querySelectorAll('nav.folders a[href^="/mail/"]');
  }
  function idOf(a) {
    var x = /^\/mail\/(\d+)$/.exec(a.getAttribute('href'));
    return x ? x[1] : null;
  }
  function countOf(a) {
    var c = a.querySelector('.count');
    return c ? parseInt(c.textContent, 10) || 0 : 0;
  }
  function setCount(a, n) {
    var c = a.querySelector('.count');
    if (n <= 0) {
      if (c) {
        if (c.previousSibling && c.previousSibling.nodeType === 3) c.previousSibling.remove();
        c.remove();
      }
      return;
    }
    if (!c) {
      a.appendChild(document.createTextNode(' '));
      c = document.createElement('span');
      c.className = 'count';
      c.title = 'unread';
      a.appendChild(c);
    }
    c.textContent = String(n);
    var vh = document.createElement('span');
    vh.className = 'vh';
    vh.textContent = ' unread';
    c.appendChild(vh);
  }

  // updateCounts sets the tree from the event and says where new mail came.
  function updateCounts(unread) {
    var said = [];
    folderLinks().forEach(function (a) {
      var id = idOf(a);
      if (id === null || !(id in unread)) return;
      var before = countOf(a);
      var after = unread[id];
      if (after > before) {
        var name = a.querySelector('.fname');
        said.push((name ? name.textContent : 'a folder') + ': ' + after + ' unread');
      }
      if (after !== before) setCount(a, after);
    });
    if (said.length) news.textContent = 'New mail. ' + said.join('. ') + '.';
  }

  var busy = false;
  var again = false;
  var treeToo = false;

  // refresh fetches this list page again (marked as the browser's own
  // request, so it does not keep the session alive) and swaps its parts.
  function refresh(tree) {
    treeToo = treeToo || tree;
    if (busy) { again = true; return; }
    busy = true;
    var swapTree = treeToo;
    treeToo = false;
    fetch(location.pathname + location.search, {
      credentials: 'same-origin',
      headers: { 'X-Airlock-Background': '1' }
    }).then(function (res) {
      if (res.redirected && new URL(res.url).pathname === '/login') {
        location.assign(res.url);
        return null;
      }
      return res.ok ? res.text() : null;
    }).then(function (html) {
      if (html) swap(new DOMParser().parseFromString(html, 'text/html'), swapTree);
    }).catch(function () {}).then(function () {
      busy = false;
      if (again) { again = false; refresh(false); }
    });
  }

  function swap(doc, tree) {
    var list = document.querySelector('ul.msgs');
    var fresh = doc.querySelector('ul.msgs');
    if (!list || !fresh) return;
    // Keep focus on the same message (or folder) if it had it.
    var active = document.activeElement;
    var href = active && active.tagName === 'A' ? active.getAttribute('href') : null;
    var inList = !!(active && list.contains(active));
    var inTree = !!(active && active.closest && active.closest('nav.folders'));
    list.replaceWith(document.adoptNode(fresh));
    ['#list-summary', 'nav.pager'].forEach(function (sel) {
      var old = document.querySelector(sel);
      var neu = doc.querySelector(sel);
      if (old && neu) old.replaceWith(document.adoptNode(neu));
      else if (old) old.remove();
      else if (neu && sel === 'nav.pager') fresh.after(document.adoptNode(neu));
    });
    if (tree) {
      var nav = document.querySelector('nav.folders');
      var nnav = doc.querySelector('nav.folders');
      if (nav && nnav) nav.replaceWith(document.adoptNode(nnav));
    }
    if ((inList || (inTree && tree)) && href) {
      var scope = inList ? document.querySelector('ul.msgs') : document.querySelector('nav.folders');
      var same = scope && Array.prototype.find.call(scope.querySelectorAll('a'), function (a) {
        return a.getAttribute('href') === href;
      });
      if (same) same.focus();
      else if (inList && scope.querySelector('a')) scope.querySelector('a').focus();
    }
  }

  var es = new EventSource('/mail/events');
  es.addEventListener('mail', function (e) {
    var d;
    try { d = JSON.parse(e.data); } catch (err) { return; }
    updateCounts(d.unread || {});
    var changed = (d.changed || []).map(String);
    if (onList && (d.tree || changed.length === 0 || changed.indexOf(current) >= 0)) refresh(!!d.tree);
  });
  // The session ended (signed out, password changed, idle): leave the
  // mail, so that a shared screen does not keep showing it.
  es.addEventListener('end', function () {
    es.close();
    location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
  });
})();
