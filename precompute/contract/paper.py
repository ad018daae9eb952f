"""The paper's reported figures, written once: Wen-Yi & Mimno, *Hyperpolyglot LLMs: Cross-Lingual
Interpretability in Token Embeddings* (EMNLP 2023).

The dashboard shows them beside each model's own figures for orientation (the Overview's first
column, the Diversity page's caption). They are the paper's numbers for its models (XLM-R, mT5),
not something this tool computes: nothing here is imported by the build. A light module (no
imports) so that the hosted dashboard may read it.
"""

#: Citation the dashboard names next to the figures.
CITATION = "Wen-Yi & Mimno (EMNLP 2023)"

#: The neighbourhood size of the paper's diversity figures (numNeighborCategory@k).
K = 50

#: The paper's model names, as its figures and the poster label them.
XLMR_XL, MT5_XL = "XLM-R-XL", "mT5-XL"

#: mT5-XL: mean number of categories among a token's 50 nearest neighbours (its neighbourhoods mix
#: writing systems).
MT5_XL_CATEGORIES_MEAN = 7.61
#: mT5-XL: standard deviation of that number over the vocabulary.
MT5_XL_CATEGORIES_STD = 4.24
#: How many tokens those two figures rest on: the authors' 1% random sample of mT5's 250,100 pieces (so the
#: mean's 95% interval is ± 1.96 × 4.24 / √2501 = ± 0.17).
MT5_XL_SAMPLE = 2501
#: XLM-R-XL: standard deviation of the same number (its neighbourhoods mostly stay in one system).
XLMR_XL_CATEGORIES_STD = 0.98

#: XLM-R: average accuracy of the one-vs-rest linear probes that tell a writing system from the rest.
XLMR_SEPARABILITY = 0.992

#: The poster's nearest neighbours of Swedish ``när`` ("when"), per model, in its order, as the poster's
#: text reads (Wen-Yi & Mimno, EMNLP 2023 poster, "Embeddings encode semantics"; the mT5-XL column is
#: cut after ``quan`` on the poster). Shown beside each loaded model's list, with the overlap counted.
POSTER_NEIGHBORS: dict[str, dict[str, tuple[str, ...]]] = {
    "när": {
        XLMR_XL: ("when", "når", "då", "eftersom", "två", "när", "där", "för", "första", "från", "här", "också",
                     "nästan", "även", "är", "innan", "stora", "människor"),
        MT5_XL: ("når", "när", "when", "lähe", "cuando", "quando", "シコ", "för", "innan", "near", "att", "Wenn",
                   "hur", "quand", "quan"),
    },
}
