// Live regions without reloads: an element with data-live-src is refreshed from that fragment
// every data-live-every seconds while the tab is visible. The fragment is server-rendered and
// escaped by the panel's templates. A signed-out session (the fetch was redirected to the
// sign-in page) reloads the page, which then goes through sign-in.
(function () {
  "use strict";
  const regions = document.querySelectorAll("[data-live-src]");
  regions.forEach(function (region) {
    const src = region.dataset.liveSrc;
    const every = Math.max(1, Number(region.dataset.liveEvery) || 3) * 1000;
    let last = region.innerHTML;
    let busy = false;

    async function refresh() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const response = await fetch(src, {
          credentials: "same-origin",
          headers: { "Accept": "text/html" },
          cache: "no-store",
        });
        if (response.redirected) {
          window.location.reload();
          return;
        }
        if (!response.ok) return;
        const html = await response.text();
        if (html !== last) {
          last = html;
          region.innerHTML = html;
          region.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
        }
      } catch (error) {
        // offline for a moment: the next tick tries again
      } finally {
        busy = false;
      }
    }

    setInterval(refresh, every);
    document.addEventListener("visibilitychange", refresh);
  });
})();
