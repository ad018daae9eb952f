"""A text to copy (a share link, a command) in a read-only box with a Copy button: a small component.

Not ``st.code``: its copy button comes with Streamlit's syntax highlighter, a 1.5 MB script that every page
showing a share link loaded and compiled; the Map page was ready 0.3 s later for it (benchmarks/map_page.py).
"""

from __future__ import annotations

import streamlit as st

#: The component's name, as tests find it among a run's elements.
NAME = "hp_copy_box"

CSS = """
.hpcopy { display: flex; gap: 6px; align-items: flex-start; }
.hpcopy textarea { flex: 1; min-width: 0; resize: none; overflow: hidden; white-space: pre; overflow-x: auto;
  font: 13px/1.45 "Source Code Pro", ui-monospace, monospace; padding: 7px 9px; border: 1px solid #d5d9e0;
  border-radius: 6px; background: #f7f8fa; color: #1b1f24; box-sizing: border-box; }
.hpcopy button { font: 14px "Source Sans Pro", sans-serif; padding: 6px 12px; border: 1px solid #d5d9e0;
  border-radius: 6px; background: #fff; color: #1b1f24; cursor: pointer; white-space: nowrap; }
.hpcopy button:hover { border-color: #1f77b4; color: #1f77b4; }
"""

JS = """
export default function ({ data, parentElement }) {
  const box = parentElement.querySelector("textarea"), button = parentElement.querySelector("button");
  if (!box || typeof data !== "string") return;
  box.value = data;
  box.rows = data.split("\\n").length;
  button.onclick = async () => {
    box.select();
    try { await navigator.clipboard.writeText(data); } catch { document.execCommand("copy"); }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  };
}
"""

_BOX = st.components.v2.component(
    NAME, css=CSS, js=JS,
    html='<div class="hpcopy"><textarea readonly spellcheck="false" aria-label="Text to copy"></textarea>'
         '<button type="button">Copy</button></div>')


def copy_box(text: str, key: str) -> None:
    """``text`` (one line or several) in a read-only box with a Copy button."""
    _BOX(data=text, key=key)
