//! The page's one inline style sheet (no external fonts or style sheets).

/// The CSS of the page's `<style>` element.
pub(super) const CSS: &str =
    "body{font-family:sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 40px;\
color:#222;line-height:1.4}h1{margin-top:24px}h2{border-bottom:2px solid #ccc;padding-bottom:4px;\
margin-top:40px}h3{margin-top:28px}table{border-collapse:collapse;margin:8px 0;font-size:13px;display:block;overflow-x:auto;\
max-width:100%}\
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f2f2f2}\
td.l,th.l{text-align:left}.guide{color:#555;font-size:13px;font-style:italic;margin:4px 0 12px}\
.grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}figure{margin:0}\
figcaption{max-width:480px}svg{max-width:100%;height:auto}\
.badge{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px;font-weight:bold;\
color:white}.pass{background:#2a8a3e}.warn{background:#c98a00}.fail{background:#c0392b}\
.paper{background:#f7f3e8}img.px{image-rendering:pixelated;width:64px;height:64px;display:block;\
border:1px solid #888}\
.ex td{text-align:center;font-size:11px;vertical-align:top}.wrong{color:#c0392b;font-weight:bold}\
.missing{color:#c0392b;font-size:11px}pre{background:#f6f6f6;padding:8px;overflow:auto;\
font-size:12px}.verdict li{margin:4px 0}.trust{font-weight:bold}.note{font-size:13px}\
details{margin:8px 0}summary{cursor:pointer}.err{color:#c0392b}\
.legend{font-size:13px;margin:6px 0}.legend span{margin-right:14px;white-space:nowrap}\
.legend i{display:inline-block;width:18px;height:4px;margin-right:5px;vertical-align:middle}\
.conclusion{background:#eef4fb;border-left:4px solid #1f77b4;padding:8px 12px;margin:8px 0}";
