// Runs as the sources panel's js_on_load (`element` is the panel, `watch` observes its value).
//
// * A click on any [n] (in the chat or in the panel) scrolls the panel to its <mark>. Clicking a
//   marker of an older answer also selects that answer (the chatbot's select event), so the panel is
//   re-rendered; we then scroll again once it has changed.
// * Each new panel (a new answer, another answer selected) starts at its top.
// * "Back to the answer" (phones) scrolls the chat bubble of the panel's answer into view.
// * "Copy answer" (in the panel, and on each answer in the chat) puts the answer with its citations,
//   as Markdown, on the clipboard; the chat's buttons read it from #qa-copies, one entry per turn.
// * The Library's search box shows only the rows holding every word typed.
// * A "Not found" offers questions the library answers, fetched from the server after it is shown
//   (a click asks one), and nearby titles (a click puts one in the question box, to edit or send).
// * A title in the Library opens that article in the reader (the panel's click event, with its doc id).
// * The Library's column headers sort its rows (again: the other way); the order outlives a refresh.
// * Each cited answer gets compact source cards (one per article: its markers, title, site, date).
// * Files over the upload limit never reach the server (gradio's client refuses the whole batch, with
//   a toast): the upload summary says so, naming them, instead of still showing the previous batch.
// * Chat messages get readable labels: gradio labels each one with its raw Markdown/HTML source.
// * An answer's [n] previews its source on hover or keyboard focus: the cited sentence, its article's
//   title, site and date (from #qa-copies). On a touch screen the first tap previews and a second tap
//   on the same marker goes to the source; Escape or a tap elsewhere closes the preview.
if (!window.__qaCiteNav) {
  window.__qaCiteNav = true;
  // Gradio's own noise, not ours: its client's fetch-based event stream has a close() that only warns
  // "Method not implemented." (gradio issue #12002), and every upload's progress stream calls it twice.
  const warn = console.warn.bind(console);
  console.warn = (...args) => { if (!(args.length === 1 && args[0] === 'Method not implemented.')) warn(...args); };
  // This app serves no MCP (launch leaves mcp_server off), yet gradio's API page asks for the MCP
  // schema on every opening, and the browser logs the 404 as an error. Answer it here, as the server would.
  const fetchFromServer = window.fetch.bind(window);
  window.fetch = (resource, options) => /\/gradio_api\/mcp\/schema$/.test(String(resource && resource.url || resource))
    ? Promise.resolve(new Response('{"detail":"Not Found"}', {status: 404, headers: {'content-type': 'application/json'}}))
    : fetchFromServer(resource, options);
  let pendingReveal = false;
  const panel = () => document.querySelector('#qa-sources .qa-sources');
  const reveal = (id) => {
    const el = document.getElementById(id);
    if (!el) return false;
    const box = el.closest('.qa-sources');
    if (box) {  // scroll the panel only, centring the span below the sticky article header
      const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
      box.scrollTo({top: box.scrollTop + (r.top - b.top) - Math.max(120, (b.height - r.height) / 2), behavior: 'smooth'});
      if (b.top < 0 || b.bottom > window.innerHeight) box.scrollIntoView({block: 'nearest'});
    } else {
      el.scrollIntoView({behavior: 'smooth', block: 'center'});
    }
    document.querySelectorAll('mark.qa-flash').forEach(m => m.classList.remove('qa-flash'));
    void el.offsetWidth;
    el.classList.add('qa-flash');
    return true;
  };
  window.__qaReveal = reveal;
  window.__qaNewPanel = () => {
    const box = panel();
    if (box && !pendingReveal) box.scrollTop = 0;
    // The reader opens from the Library: once the Ask tab shows, bring the panel into view (on phones
    // it sits under the chat).
    if (box && box.classList.contains('qa-reader')) {
      let tries = 0;
      const timer = setInterval(() => {
        const reader = panel();  // looked up each time: showing the tab may render the panel anew
        if (++tries > 40 || !reader || !reader.classList.contains('qa-reader')) return clearInterval(timer);
        if (!reader.getClientRects().length) return;  // the Ask tab is not shown yet
        clearInterval(timer);
        const r = reader.getBoundingClientRect();
        const phone = window.matchMedia('(max-width: 700px)').matches;  // app.css: one column
        if (phone || r.top < 0 || r.top > window.innerHeight / 2) reader.scrollIntoView({block: 'start'});
      }, 50);
    }
    const wanted = box && box.querySelector('.qa-nearby-questions[data-question]');
    if (wanted) window.__qaSuggest({question: wanted.dataset.question, filters: JSON.parse(wanted.dataset.filters)}).then((questions) => {
      if (!wanted.isConnected || !questions || !questions.length) return;  // another panel by now, or nothing to offer
      wanted.querySelector('ul').replaceChildren(...questions.map((question) => {
        const button = Object.assign(document.createElement('button'), {type: 'button', className: 'qa-suggest qa-ask-now', textContent: question, title: 'Ask this'});
        button.dataset.question = question;
        const li = document.createElement('li');
        li.append(button);
        return li;
      }));
      wanted.hidden = false;
    }, () => {});
  };
  const copy = (button) => {
    // A chat button's word is its data-label (CSS shows it), so the bubble's own text stays the answer.
    const say = (word) => { if ('label' in button.dataset) button.dataset.label = word; else button.textContent = word; };
    const done = (word) => { say(word); setTimeout(() => say('label' in button.dataset ? 'Copy' : 'Copy answer'), 1500); };
    const text = button.dataset.copy || '';
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text).then(() => done('Copied'), () => done('Copy failed'));
      return;
    }
    // Plain http to another host has no clipboard API: copy through a selected text area.
    const area = document.createElement('textarea');
    area.value = text;
    document.body.appendChild(area);
    area.select();
    done(document.execCommand('copy') ? 'Copied' : 'Copy failed');
    area.remove();
  };
  // --- uploads the browser refuses ---
  let refusals = 0;
  const megabytes = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
  const refuseOversized = (files) => {
    const limit = (window.gradio_config || {}).max_file_size;
    const all = [...(files || [])], big = all.filter((file) => limit && file.size > limit);
    const summary = document.querySelector('#qa-summary .qa-summary');
    if (!big.length || !summary) return;
    const item = (kind, word, name, text) => {
      const li = document.createElement('li');
      li.append(Object.assign(document.createElement('span'), {className: `qa-tag qa-tag-${kind}`, textContent: word}), ' ');
      li.append(Object.assign(document.createElement('b'), {textContent: name}), text);
      return li;
    };
    const line = Object.assign(document.createElement('div'), {className: 'qa-summary-line'});
    line.dataset.summary = `nothing uploaded, ${big.length} refused`;
    line.append(Object.assign(document.createElement('span'), {className: 'qa-pill qa-pill-skipped', textContent: `${big.length} refused`}));
    const items = Object.assign(document.createElement('ul'), {className: 'qa-summary-items'});
    big.forEach((file) => items.append(item('skipped', 'refused', file.name, `: file is ${megabytes(file.size)}, over the ${megabytes(limit).replace('.0', '')} limit`)));
    all.filter((file) => !big.includes(file)).forEach((file) => items.append(item('unchanged', 'not sent', file.name, ': not sent with it; upload it again on its own')));
    const refused = Object.assign(document.createElement('div'), {className: 'qa-summary qa-refused'});
    refused.dataset.run = `refused-${++refusals}`;
    refused.setAttribute('role', 'alert');
    refused.append(line, items);
    summary.replaceWith(refused);
  };
  document.addEventListener('change', (event) => {
    if (event.target.matches && event.target.matches('#qa-upload input[type=file]')) refuseOversized(event.target.files);
  }, true);
  document.addEventListener('drop', (event) => {
    if (event.target.closest && event.target.closest('#qa-upload') && event.dataTransfer) refuseOversized(event.dataTransfer.files);
  }, true);

  // --- citation previews ---
  const preview = Object.assign(document.createElement('div'), {id: 'qa-preview', className: 'qa-preview', hidden: true});
  preview.setAttribute('role', 'tooltip');
  let previewing = null;  // the marker whose preview is shown
  let pointer = '';  // how the latest click began: 'touch', 'mouse', 'pen', or '' (keyboard)
  let previewingAtTap = null;  // what was previewed when this touch began: a second tap goes on
  const previewData = (marker) => {
    const bubble = marker.closest("[data-testid='bot']");
    const turn = [...document.querySelectorAll("#qa-chat [data-testid='bot']")].indexOf(bubble);
    const n = marker.textContent.replace(/\D/g, '');
    return document.querySelector(`#qa-copies [data-turn="${turn}"] [data-marker="${n}"]`);
  };
  const hidePreview = () => {
    if (previewing) previewing.removeAttribute('aria-describedby');
    previewing = null;
    preview.hidden = true;
  };
  const showPreview = (marker) => {
    const data = previewData(marker);
    if (!data) return hidePreview();
    if (!preview.isConnected) document.body.appendChild(preview);
    const line = (className, text) => Object.assign(document.createElement('div'), {className, textContent: text});
    const meta = line('qa-preview-meta', ` · ${data.dataset.site} · ${data.dataset.date}`);
    meta.prepend(Object.assign(document.createElement('b'), {textContent: data.dataset.title}));
    const hint = pointer === 'touch' ? 'Tap again to show it in the article' : 'Click to show it in the article';
    preview.replaceChildren(line('qa-preview-text', data.dataset.text), meta, line('qa-preview-hint', hint));
    if (previewing && previewing !== marker) previewing.removeAttribute('aria-describedby');
    previewing = marker;
    marker.setAttribute('aria-describedby', 'qa-preview');
    preview.hidden = false;
    // Above the marker when there is room, else below; always inside the window.
    const r = marker.getBoundingClientRect(), p = preview.getBoundingClientRect();
    const top = r.top - p.height - 8 >= 0 ? r.top - p.height - 8 : Math.min(r.bottom + 8, window.innerHeight - p.height - 8);
    const left = Math.max(8, Math.min(r.left + r.width / 2 - p.width / 2, window.innerWidth - p.width - 8));
    Object.assign(preview.style, {top: `${Math.max(8, top)}px`, left: `${left}px`});
  };
  const chatMarker = (node) => node && node.closest ? node.closest('#qa-chat a.qa-marker') : null;
  document.addEventListener('pointerdown', (event) => { pointer = event.pointerType; previewingAtTap = previewing; }, true);
  document.addEventListener('keydown', (event) => { pointer = ''; if (event.key === 'Escape') hidePreview(); }, true);
  document.addEventListener('pointerover', (event) => {
    const marker = chatMarker(event.target);
    if (marker && event.pointerType !== 'touch') showPreview(marker);
  });
  document.addEventListener('pointerout', (event) => {
    const marker = chatMarker(event.target);
    if (marker && event.pointerType !== 'touch' && document.activeElement !== marker && !marker.contains(event.relatedTarget)) hidePreview();
  });
  document.addEventListener('focusin', (event) => { const marker = chatMarker(event.target); if (marker) showPreview(marker); else hidePreview(); });
  document.addEventListener('focusout', (event) => { if (chatMarker(event.target) === previewing) hidePreview(); });
  window.addEventListener('scroll', () => {  // follow the marker; gone with it
    if (!previewing) return;
    const r = previewing.getBoundingClientRect();
    if (r.bottom < 0 || r.top > window.innerHeight || !previewing.isConnected) hidePreview(); else showPreview(previewing);
  }, true);

  document.addEventListener('click', (event) => {
    const target = event.target.closest ? event.target : null;
    if (!target) return;
    const marker = chatMarker(target);
    if (marker && pointer === 'touch' && previewingAtTap !== marker) {
      event.preventDefault();  // a first tap only previews: no jump, and the answer is not selected
      event.stopPropagation();
      showPreview(marker);
      return;
    }
    if (marker) hidePreview();
    const read = target.closest('#qa-articles button.qa-read');
    if (read) { window.__qaRead(read.dataset.doc); return; }
    const sort = target.closest('#qa-articles button.qa-sort');
    if (sort) {
      const key = sort.closest('th').dataset.sortKey;
      librarySort = {key, dir: librarySort && librarySort.key === key ? -librarySort.dir : 1};
      sortLibrary();
      return;
    }
    const button = target.closest('button.qa-copy');
    if (button) { event.stopPropagation(); copy(button); return; }  // not also a click on the bubble
    const suggestion = target.closest('button.qa-suggest');
    if (suggestion) {
      const box = document.querySelector('#qa-question textarea');
      box.value = suggestion.dataset.question;
      box.dispatchEvent(new Event('input', {bubbles: true}));
      box.focus();
      if (suggestion.classList.contains('qa-ask-now')) setTimeout(() => document.querySelector('#qa-ask').click(), 0);
      return;
    }
    const back = target.closest('.qa-back');
    if (back) {
      event.preventDefault();
      const bubble = document.querySelectorAll("#qa-chat [data-testid='bot']")[Number(back.dataset.turn)];
      const where = bubble || document.querySelector('#qa-question');
      where.scrollIntoView({block: 'center'});
      const marker = bubble && bubble.querySelector('a.qa-marker');
      if (marker) marker.focus({preventScroll: true});
      return;
    }
    const link = target.closest('a[href^="#cite-"]');
    if (!link) return;
    event.preventDefault();
    const id = decodeURIComponent(link.getAttribute('href').slice(1));
    const before = panel() ? panel().getAttribute('data-turn') : null;
    reveal(id);
    if (!link.closest('#qa-sources')) {
      pendingReveal = true;
      let tries = 0;
      const timer = setInterval(() => {
        tries += 1;
        const now = panel() ? panel().getAttribute('data-turn') : null;
        if (now !== before) { clearInterval(timer); setTimeout(() => { reveal(id); pendingReveal = false; }, 50); }
        else if (tries > 30) { clearInterval(timer); pendingReveal = false; }
      }, 100);
    }
  }, true);

  // Readable labels: "Answer: … (source 1) …" instead of the message's HTML source.
  const labelMessages = () => {
    document.querySelectorAll("#qa-chat [data-testid='bot'], #qa-chat [data-testid='user']").forEach((message) => {
      const content = message.querySelector('.message-content');
      if (!content) return;
      content.querySelectorAll('a.qa-marker').forEach((a) => {
        const n = a.textContent.replace(/\D/g, '');
        if (a.getAttribute('aria-label') !== `source ${n}`) a.setAttribute('aria-label', `source ${n}`);
      });
      const copyOf = content.cloneNode(true);
      copyOf.querySelectorAll('a.qa-marker').forEach((a) => { a.textContent = ` (${a.getAttribute('aria-label')})`; });
      const who = message.dataset.testid === 'user' ? 'Question' : 'Answer';
      const label = `${who}: ${copyOf.textContent.replace(/\s+/g, ' ').trim()}`;
      if (message.getAttribute('aria-label') !== label) message.setAttribute('aria-label', label);
    });
  };
  // A copy button on each cited answer (none while an answer is being written, or on "Not found").
  // Under each cited answer, a compact card per article it cites (its markers, title, site, date), leading
  // to its first cited span; the words are drawn from data attributes (app.css), so the bubble's own
  // text stays the answer, as with the copy button.
  const sourceCards = (source) => {
    const cards = Object.assign(document.createElement('div'), {className: 'qa-cards'});
    const byDoc = new Map();
    source.querySelectorAll('[data-marker]').forEach((p) => {
      if (!byDoc.has(p.dataset.doc)) byDoc.set(p.dataset.doc, {p, markers: []});
      byDoc.get(p.dataset.doc).markers.push(p.dataset.marker);
    });
    byDoc.forEach(({p, markers}) => {
      const card = Object.assign(document.createElement('a'), {className: 'qa-card', href: `#cite-${markers[0]}`});
      card.dataset.n = markers.join(' ');
      card.dataset.label = `${p.dataset.title} · ${p.dataset.site} · ${p.dataset.date}`;
      card.setAttribute('aria-label', `source${markers.length > 1 ? 's' : ''} ${markers.join(', ')}: ${card.dataset.label}`);
      card.title = card.dataset.label;
      cards.append(card);
    });
    return cards;
  };
  const addCopyButtons = () => {
    document.querySelectorAll("#qa-chat [data-testid='bot']").forEach((message, turn) => {
      const source = document.querySelector(`#qa-copies [data-turn="${turn}"]`);
      let button = message.querySelector('button.qa-copy');
      let cards = message.querySelector('.qa-cards');
      if (!source || message.querySelector('.qa-writing')) { if (button) button.remove(); if (cards) cards.remove(); return; }
      if (!button) {
        button = Object.assign(document.createElement('button'), {type: 'button', className: 'qa-button qa-copy qa-copy-answer'});
        button.setAttribute('aria-label', 'Copy this answer with its citations as Markdown');
        button.dataset.label = 'Copy';
        message.appendChild(button);
      }
      if (button.dataset.copy !== source.dataset.copy) {
        button.dataset.copy = source.dataset.copy;
        if (cards) cards.remove();
        cards = null;
      }
      if (!cards) message.insertBefore(sourceCards(source), button);
    });
  };
  const filterLibrary = () => {
    const box = document.querySelector('#qa-library-search textarea, #qa-library-search input');
    const words = (box ? box.value : '').toLowerCase().split(/\s+/).filter(Boolean);
    document.querySelectorAll('#qa-articles tbody tr').forEach((row) => {
      const text = `${row.textContent} ${row.querySelector('td[title]')?.title || ''}`.toLowerCase();
      row.style.display = words.every((word) => text.includes(word)) ? '' : 'none';
    });
  };
  // Undated articles (no data-sort) come last either way; equal keys keep the server's order.
  let librarySort = null;
  const sortLibrary = () => {
    const table = document.querySelector('#qa-articles table.qa-table');
    if (!table || !librarySort) return;
    const {key, dir} = librarySort;
    const headers = [...table.tHead.rows[0].cells];
    headers.forEach((th) => {
      if (th.dataset.sortKey) th.setAttribute('aria-sort', th.dataset.sortKey === key ? (dir > 0 ? 'ascending' : 'descending') : 'none');
    });
    const column = headers.findIndex((th) => th.dataset.sortKey === key);
    const value = (row) => row.cells[column].dataset.sort || '';
    const rows = [...table.tBodies[0].rows];
    const sorted = [...rows].sort((a, b) => {
      const x = value(a), y = value(b);
      if (!x || !y) return (!x) - (!y);
      return dir * (key === 'sentences' ? Number(x) - Number(y) : x.localeCompare(y));
    });
    if (sorted.some((row, i) => row !== rows[i])) table.tBodies[0].append(...sorted);  // moves them
  };
  document.addEventListener('input', (event) => {
    if (event.target.closest && event.target.closest('#qa-library-search')) filterLibrary();
  });
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; labelMessages(); addCopyButtons(); sortLibrary(); filterLibrary(); });  // also on a new table
  }).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['aria-label']});
}
window.__qaRead = (doc) => trigger('click', {doc_id: doc});
window.__qaSuggest = (asked) => server.suggest_questions(asked);
watch('value', () => window.__qaNewPanel());
