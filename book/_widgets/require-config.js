// Loaded between require.js and embed-amd.js (see `make assets`). The widget manager finds its own files
// (icon fonts) relative to RequireJS's baseUrl, which defaults to the page's folder; point it at this
// script's folder instead, so that pages at any depth find them on this site.
(function () {
  var src = document.currentScript.src;
  require.config({ baseUrl: src.slice(0, src.lastIndexOf("/") + 1) });
})();
