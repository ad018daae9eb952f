"""Chart functions: ``(DataFrame, options) -> alt.Chart``, pure, testable through their Vega-Lite spec.

One colour per token category everywhere (:data:`CATEGORY_COLORS`), one per model within a chart.
Every chart carries Vega-Embed options that offer PNG/SVG export in its ``…`` menu.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import altair as alt
import pandas as pd

from precompute.contract.categories import OTHER, PLOTTED

# Charts draw aggregates (the Map draws every token with WebGL, not Altair); Altair's 5,000-row guard
# stays off so that a large aggregate is drawn rather than refused with an error in place of the chart.
alt.data_transformers.disable_max_rows()

#: Categories in legend order: the paper's 13 writing systems, symbols, numbers, then the rest.
CATEGORY_ORDER: tuple[str, ...] = PLOTTED + (OTHER,)
#: The colour of each category in every chart: the Okabe-Ito palette, then colours picked to stay apart
#: from it and each other under deuteranopia and protanopia (CIELAB distance at least 14 between any two,
#: tested with Machado et al.'s simulation); "other" a light grey, behind the categories the paper plots.
CATEGORY_COLORS: dict[str, str] = dict(zip(CATEGORY_ORDER, (
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#56b4e9", "#cc79a7", "#f0e442", "#663300",
    "#0000ff", "#6666ff", "#003399", "#663333", "#663366", "#000000", "#00cc66", "#bbbbbb",
), strict=True))
#: Model colours, given out in catalog order (:func:`model_colors`), so that a model keeps its colour on
#: every page whatever is selected: Tableau 10, whose hues stay apart from each other.
MODEL_PALETTE: tuple[str, ...] = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                                  "#ff9da7", "#9c755f", "#bab0ac")


def model_colors(labels: Sequence[str]) -> dict[str, str]:
    """One colour per model label, by its place among *all* models (not the selected ones)."""
    return {label: MODEL_PALETTE[i % len(MODEL_PALETTE)] for i, label in enumerate(labels)}


def model_scale(colors: Mapping[str, str] | None, shown: Sequence[str]) -> alt.Scale | alt.UndefinedType:
    """The colour scale of the models ``shown``, each in its :func:`model_colors` colour."""
    if not colors:
        return alt.Undefined
    domain = [m for m in colors if m in set(shown)]
    return alt.Scale(domain=domain, range=[colors[m] for m in domain])


#: Readable axis and legend titles for the table columns the charts plot (others show as named).
TITLES: dict[str, str] = {
    "model_a": "model", "model_b": "model", "category_a": "category", "category_b": "category",
    "neighbor_category": "neighbour category", "n_shared": "shared tokens", "non_latin_share": "not LATIN",
    "jaccard_mean": "Jaccard", "overlap_mean": "overlap", "cka": "CKA", "procrustes_residual": "Procrustes residual",
    "overlap_paper_mean": "overlap (paper)",
}


def title_of(column: str) -> str:
    return TITLES.get(column, column)


def category_sort(values: Sequence[str]) -> list[str]:
    """Categories in legend order, unplotted ones (ARMENIAN, P, …) after, alphabetically."""
    rank = {c: i for i, c in enumerate(CATEGORY_ORDER)}
    return sorted(dict.fromkeys(map(str, values)), key=lambda c: (rank.get(c, len(rank)), c))


#: Width (px) of a character of an axis label at Vega's 11 px font, generous: how wide a column must be for a
#: label to stand upright without running into the next.
LABEL_CHAR_PX = 6.5
#: How a model pair is named in a chart ("a · b"): such a name is drawn on two lines, one model a line.
PAIR_SEPARATOR = " · "


#: Longest line of a chart's title, in characters: a longer title is wrapped (Vega cut a title wider than its
#: chart with "…", as on a phone).
TITLE_CHARS = 30


def pairs_on_two_lines(values: Sequence[object]) -> dict[str, str]:
    """The ``labelExpr`` that writes a pair "a · b" on two lines, one model a line (for an axis or a legend),
    if ``values`` hold a pair; else nothing."""
    return ({"labelExpr": f"split(datum.label, '{PAIR_SEPARATOR}')"}
            if any(PAIR_SEPARATOR in str(v) for v in values) else {})


def longest_line(values: Sequence[object]) -> int:
    """Characters in the longest line of the labels of ``values`` (a pair's two names on their own lines)."""
    return max((len(part) for v in values for part in str(v).split(PAIR_SEPARATOR)), default=0)


def legend_columns(values: Sequence[object]) -> alt.ExprRef:
    """Two legend columns where the chart is wide enough for two of its longest labels with their swatches,
    else one (on a phone a second column of model names ran off the window)."""
    return alt.ExprRef(f"width < {2 * (longest_line(values) * LABEL_CHAR_PX + 30):g} ? 1 : 2")


def names_axis(values: Sequence[object], title: str | None) -> alt.Axis:
    """An x axis of names (models, pairs, categories) that never cuts or hides one (``labelLimit=0``, no
    overlap thinning): the labels stand level while each column is wide enough for the longest, lean at -40°
    while a column is wide enough for leaning labels not to touch, else stand upright (Vega decides at the
    width the chart is drawn, so a phone and a laptop both read them). A pair "a · b" takes two lines.
    """
    names = [str(v) for v in dict.fromkeys(values)] or [""]
    column, lines = f"width / {len(names)}", 2 if pairs_on_two_lines(names) else 1
    level, leaning = f"{column} >= {longest_line(names) * LABEL_CHAR_PX + 8:g}", f"{column} >= {22 * lines + 8}"
    return alt.Axis(title=title, labelLimit=0, labelOverlap=False,
                    labelAngle=alt.ExprRef(f"{level} ? 0 : {leaning} ? -40 : -90"),
                    labelBaseline=alt.ExprRef(f"{level} || {leaning} ? 'top' : 'middle'"),
                    labelAlign=alt.ExprRef(f"{level} ? 'center' : 'right'"), **pairs_on_two_lines(names))


def fit_width(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Let a chart fill its column's width only: its height is its plot's (``fit-x``).

    Under Streamlit's default ("fit" both ways) a legend or long axis labels under the plot took the bars'
    room: histograms and bar charts were drawn flat. (No export menu here: Streamlit drops vega-embed's
    actions; the "Reproduce this figure" box saves charts, ``ui.rendered``.) Drawn as SVG, not on a canvas:
    the charts are aggregates of a few hundred marks at most, their text is crisp and selectable, and a
    label Vega had to cut ("…") can be found in the page (tests/test_browser.py looks for one). A title longer
    than :data:`TITLE_CHARS` is written on lines of that length.
    """
    title = chart.title if isinstance(chart.title, str) and len(chart.title) > TITLE_CHARS else None
    return chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
                            usermeta={"embedOptions": {"renderer": "svg"}},
                            **({"title": textwrap.wrap(title, TITLE_CHARS)} if title else {}))


def grouped_bars(df: pd.DataFrame, y: str, err: str | tuple[str, str] | None = None, x: str = "category",
                 group: str = "model", y_title: str | None = None, y_domain: tuple[float, float] | None = None,
                 title: str = "", reference: str | None = None, color: str | None = None,
                 shade: str | None = None, palette: Mapping[str, str] | None = None, n: str | None = None,
                 min_n: int = 0, x_labels: bool = True) -> alt.LayerChart:
    """Bars of ``y`` per ``x`` (categories), one bar per ``group`` (model) side by side, with error bars.

    ``err`` is a column of half-widths (a standard deviation or a 95% interval: the bar spans
    ``y ± err``), or a pair of columns ``(low, high)`` holding the interval itself (a bootstrap interval
    is not symmetric). ``reference`` is a column of reference values (a chance value, a median) drawn as a
    black tick on each bar. ``y_domain`` clips the axis (the paper's separability chart spans 0.85–1.0); a bar below
    it would vanish, so it is marked at the axis' foot with a ▼ and its value. ``color`` colours the
    bars by another column than ``group`` (the model, when a group is "model · vocabulary") and
    ``shade`` draws a column as opacity (two levels at most: full vocabulary, shared tokens).
    ``palette``: the models' colours (:func:`model_colors`), for bars coloured by model. ``n``: a column
    of the tokens each bar rests on, in its tooltip; a bar on fewer than ``min_n`` is drawn grey
    (:data:`FEW_COLOR`). A ``shade`` level past the first is drawn pale with its colour as outline,
    its legend swatches likewise, so that the levels differ by more than opacity. Bars coloured by their
    group stand in the legend's order. ``x_labels=False`` draws no x axis: one group of bars whose name is
    the y axis' title (the Tour's), which a vertical label under the chart only repeated.
    """
    order = category_sort(df[x]) if x == "category" else sorted(df[x].unique())
    scale = alt.Scale(domain=list(y_domain), clamp=True, zero=False) if y_domain else alt.Scale(zero=True)
    hued = color or group
    legend_order = model_scale(palette, df[hued].unique())
    in_order = legend_order.domain if hued == group and legend_order is not alt.Undefined else "ascending"
    position = {"x": alt.X(f"{x}:N", sort=order, axis=names_axis(order, title_of(x)) if x_labels else None),
                "xOffset": alt.XOffset(f"{group}:N", sort=in_order)}
    tooltip = [alt.Tooltip(f"{group}:N"), alt.Tooltip(f"{x}:N"), alt.Tooltip(f"{y}:Q", format=".4f")]
    if isinstance(err, str):
        tooltip.append(alt.Tooltip(f"{err}:Q", format=".4f", title=f"± {err}"))
    elif err:
        tooltip += [alt.Tooltip(f"{e}:Q", format=".4f") for e in err]
    if reference:
        tooltip.append(alt.Tooltip(f"{reference}:Q", format=".4g"))
    if n:
        tooltip.append(alt.Tooltip(f"{n}:Q", format=",d", title="tokens"))
    hue = alt.Color(f"{hued}:N", title=hued, scale=legend_order,
                    legend=alt.Legend(orient="bottom", columns=legend_columns(df[hued]), labelLimit=0,
                                      **pairs_on_two_lines(df[hued])))
    encoding = {"y": alt.Y(f"{y}:Q", scale=scale, title=y_title or y), "tooltip": tooltip,
                "color": alt.condition(f"datum['{n}'] < {min_n}", alt.value(FEW_COLOR), hue) if n and min_n else hue,
                "stroke": alt.Stroke(f"{hued}:N", scale=model_scale(palette, df[hued].unique()), legend=None)}
    if shade:
        levels = sorted(df[shade].dropna().unique())
        encoding["fillOpacity"] = alt.FillOpacity(
            f"{shade}:N", scale=alt.Scale(domain=levels, range=[1.0, 0.25][:len(levels)]), title=shade,
            legend=alt.Legend(symbolType="square", symbolFillColor="#666666", symbolStrokeColor="#222222",
                              symbolStrokeWidth=1.5, labelLimit=0))
    layers = [alt.Chart(df).mark_bar(strokeWidth=1.5).encode(**position, **encoding)]
    if err:
        lo, hi = (df[y] - df[err], df[y] + df[err]) if isinstance(err, str) else (df[err[0]], df[err[1]])
        data = df.assign(_lo=lo, _hi=hi)
        if y_domain:
            data = data.assign(_lo=data["_lo"].clip(*y_domain), _hi=data["_hi"].clip(*y_domain))
        elif (df[y].dropna() >= 0).all():  # counts and rates: a wide interval must not draw below zero
            data = data.assign(_lo=data["_lo"].clip(lower=0))
        layers.append(alt.Chart(data).mark_rule(color="black").encode(
            **position, y=alt.Y("_lo:Q", scale=scale), y2="_hi:Q"))
    if reference:  # a bar 2 px tall: a tick mark is centred on the bar's left edge by the browser's Vega-Lite
        layers.append(alt.Chart(df).mark_bar(color="black", opacity=0.9, yOffset=-1, y2Offset=1).encode(
            **position, y=alt.Y(f"{reference}:Q", scale=scale), y2=f"{reference}:Q", tooltip=tooltip))
    if y_domain:
        below = df[pd.to_numeric(df[y], errors="coerce") < y_domain[0]].assign(_foot=y_domain[0])
        if len(below):
            foot = alt.Chart(below).encode(**position, y=alt.Y("_foot:Q", scale=scale), tooltip=tooltip)
            layers += [foot.mark_point(shape="triangle-down", filled=True, size=70, color="#c92a2a", yOffset=-8),
                       foot.mark_text(angle=270, align="left", dy=0, dx=0, yOffset=-18, fontSize=10,
                                      color="#c92a2a").encode(text=alt.Text(f"{y}:Q", format=".2f"))]
    return fit_width(alt.layer(*layers, title=title).properties(height=360))


#: The colour of a bar resting on too few tokens to be read (the page says how few).
FEW_COLOR = "#d0d0d0"


#: Narrowest heatmap cell (px) that still shows its number.
MIN_CELL_WIDTH = 30


def heatmap(df: pd.DataFrame, x: str, y: str, value: str, title: str = "", fmt: str = ".2f",
            domain: tuple[float, float] | None = None, x_sort: Sequence[str] | None = None,
            y_sort: Sequence[str] | None = None) -> alt.LayerChart:
    """A matrix of ``value`` over ``x`` × ``y`` with the numbers written in the cells, as wide as its column.

    ``domain``: the colour scale's range; pages showing one heatmap per model pass the same to each, so
    that a colour means one value in every panel. Numbers are written only in cells at least
    :data:`MIN_CELL_WIDTH` wide (on a phone a 16-column matrix shows its colours and tooltips).
    """
    scale = alt.Scale(scheme="blues", domain=list(domain)) if domain else alt.Scale(scheme="blues")
    base = alt.Chart().encode(  # names never cut (the models' names were: "multilingual-e5-s…")
        x=alt.X(f"{x}:N", sort=list(x_sort) if x_sort else "ascending", axis=names_axis(df[x], title_of(x))),
        y=alt.Y(f"{y}:N", sort=list(y_sort) if y_sort else "ascending", title=title_of(y),
                axis=alt.Axis(labelLimit=0)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=scale, title=title_of(value)),
        tooltip=[alt.Tooltip(f"{y}:N", title=title_of(y)), alt.Tooltip(f"{x}:N", title=title_of(x)),
                 alt.Tooltip(f"{value}:Q", format=fmt, title=title_of(value))],
    )
    columns = max(int(df[x].nunique()), 1)
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text(f"{value}:Q", format=fmt),
        # numbers only where a cell is wide enough for them (a phone shows the colours; the tooltip the number)
        opacity=alt.condition(f"width / {columns} >= {MIN_CELL_WIDTH}", alt.value(1), alt.value(0)),
        color=alt.condition(alt.datum[value] > _midpoint(df[value], domain), alt.value("white"), alt.value("black")),
    )
    # rows tall enough for their numbers
    return fit_width(alt.layer(cells, text, data=df).properties(height=alt.Step(26), title=title))


def _midpoint(values: pd.Series, domain: tuple[float, float] | None) -> float:
    if domain:
        return (domain[0] + domain[1]) / 2
    v = pd.to_numeric(values, errors="coerce").dropna()
    return float((v.min() + v.max()) / 2) if len(v) else 0.0


#: The reference lines of a diversity histogram, short enough for a legend in a phone-wide column (the
#: page's caption says what each is).
MEAN, RANDOM, SHUFFLED, POSTER = "mean", "chance: random", "chance: shuffled", "poster: mT5-XL"
#: How each reference line is drawn, by its label: colour and dash.
REFERENCE_STYLES: dict[str, tuple[str, list[int]]] = {
    MEAN: ("black", [1, 0]),
    RANDOM: ("#c92a2a", [6, 3]),
    SHUFFLED: ("#e67700", [2, 2]),
    POSTER: ("#7048e8", [8, 3, 2, 3]),
}


def histogram(df: pd.DataFrame, value: str, title: str = "", x_title: str | None = None,
              references: pd.DataFrame | None = None) -> alt.LayerChart:
    """Counts of an integer ``value`` (e.g. numNeighborCategory@k) of one model, as shares of its tokens.

    ``df`` holds one row per distinct value with its ``count`` and ``share``, aggregated by the page so
    that a 250k-token model sends a few dozen rows, not 250k. ``references`` (columns ``reference``,
    ``at``) are vertical rules: the mean and its chance values, labelled as in
    :data:`REFERENCE_STYLES` (a quantitative axis, so that a rule sits at 7.99, between the bars of 7
    and 8). One panel a chart, as wide as its column: pages put a model in each column, which stack on
    a phone; a faceted chart would keep a fixed width and run off a narrow window.
    """
    refs = references if references is not None else pd.DataFrame(columns=["reference", "at"])
    data = pd.concat([df.assign(_lo=df[value] - 0.4, _hi=df[value] + 0.4, _kind="count"),
                      refs.assign(_kind="reference")], ignore_index=True)
    bars = alt.Chart().mark_bar(color="#4c78a8").encode(
        x=alt.X("_lo:Q", title=x_title or value, axis=alt.Axis(tickMinStep=1, format="d")), x2="_hi:Q",
        y=alt.Y("share:Q", title="share of tokens", axis=alt.Axis(format="%")), y2=alt.datum(0),
        tooltip=[alt.Tooltip(f"{value}:Q", format="d"), alt.Tooltip("count:Q"), alt.Tooltip("share:Q", format=".1%")],
    ).transform_filter(alt.datum._kind == "count")
    labels = [r for r in REFERENCE_STYLES if r in set(refs["reference"])]  # the legend lists what is drawn
    rules = alt.Chart().mark_rule(strokeWidth=2).encode(
        x=alt.X("at:Q"),
        color=alt.Color("reference:N", title=None, legend=alt.Legend(orient="bottom", columns=1),
                        scale=alt.Scale(domain=labels, range=[REFERENCE_STYLES[r][0] for r in labels])),
        strokeDash=alt.StrokeDash("reference:N", scale=alt.Scale(domain=labels,
                                                                  range=[REFERENCE_STYLES[r][1] for r in labels])),
        tooltip=[alt.Tooltip("reference:N"), alt.Tooltip("at:Q", format=".2f")],
    ).transform_filter(alt.datum._kind == "reference")
    layers = [bars, rules] if len(refs) else [bars]  # a legend of no lines would have an empty scale
    return fit_width(alt.layer(*layers, data=data).properties(title=title, height=240))


def line_with_band(df: pd.DataFrame, x: str, y: str, err: str, group: str = "model", title: str = "",
                   x_title: str | None = None, y_title: str | None = None,
                   x_sort: Sequence[str] | None = None, palette: Mapping[str, str] | None = None) -> alt.LayerChart:
    """``y`` against an ordered ``x`` (frequency decile), one line per model, a band of ``y ± err``.

    ``x_sort``: the order of ``x``'s values when they are labels ("never seen", "1", …, "10");
    ``palette``: the models' colours (:func:`model_colors`).
    """
    data = df.assign(_lo=df[y] - df[err], _hi=df[y] + df[err])
    base = alt.Chart(data).encode(
        x=alt.X(f"{x}:O", title=x_title or x, sort=list(x_sort) if x_sort else "ascending",
                axis=alt.Axis(labelAngle=0)),
        color=alt.Color(f"{group}:N", title=group, scale=model_scale(palette, df[group].unique()))
    )
    band = base.mark_area(opacity=0.2).encode(y=alt.Y("_lo:Q", title=y_title or y), y2="_hi:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y(f"{y}:Q"),
        tooltip=[alt.Tooltip(f"{group}:N"), alt.Tooltip(f"{x}:O"), alt.Tooltip(f"{y}:Q", format=".3f"),
                 alt.Tooltip(f"{err}:Q", format=".3f", title="± 95% interval")],
    )
    return fit_width(alt.layer(band, line, title=title).properties(height=320))
