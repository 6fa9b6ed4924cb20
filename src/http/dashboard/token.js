// Shown instead of the dashboard when the page came without a valid token. A token kept in this
// tab's sessionStorage (from an earlier visit) is tried once; a refused one is forgotten.
'use strict';
(() => {
  const KEY = 'sluice.adminToken';
  const params = new URLSearchParams(location.search);
  if (params.has('token')) {
    sessionStorage.removeItem(KEY);
    document.getElementById('refused').hidden = false;
    return;
  }
  const kept = sessionStorage.getItem(KEY);
  if (kept) {
    params.set('token', kept);
    location.replace(`${location.pathname}?${params}`);
  }
})();
