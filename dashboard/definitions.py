"""What each statistic a chart shows is, in a sentence: the one home of the definitions that the
"Reproduce this figure" boxes quote (the full account, with the conventions: docs/METHODS.md, § given)."""

from __future__ import annotations

#: Statistic key -> its definition, with the METHODS section that fixes it.
DEFINITIONS: dict[str, str] = {
    "neighbours": "The k tokens with the highest cosine similarity to the token, from the exact neighbour table "
                  "(METHODS §3); an expression's from the Annoy index, approximate.",
    "diversity": "numNeighborCategory@k: the number of distinct categories among a token's k nearest neighbours; "
                 "chance: k tokens drawn at random, and the categories shuffled over the tokens (METHODS §4, §10).",
    "breakdown": "For the tokens of a row category, the mean number of their k nearest neighbours in each column "
                 "category (METHODS §4).",
    "entropy": "Per token, the entropy (nats) of its k neighbours' category counts; mean per category with a 95% "
               "interval (METHODS §4).",
    "decile": "numNeighborCategory@k by frequency decile of the token, mean with a 95% interval (METHODS §4).",
    "separability": "Accuracy of a logistic-regression probe telling one category's tokens from the rest "
                    "(balanced by undersampling, cross-validated over the build's folds, L2-normalised rows); "
                    "chance 50% (METHODS §5).",
    "pairwise": "Accuracy of a probe telling category a's tokens from category b's (balanced, cross-validated) "
                "(METHODS §5).",
    "meaning": "How many of a token's k nearest neighbours share a translation with it (a CLDR name "
               "cluster or a FreeDict English headword); chance: as many random neighbours (METHODS §6).",
    "retrieval": "Translation retrieval: the share of tokens with a translation in the vocabulary that find one "
                 "among their nearest 1 / 10 neighbours (METHODS §6).",
    "geometry": "Jaccard |A∩B| / |A∪B| and overlap |A∩B| / k of two models' k-neighbour sets on the tokens both "
                "share; CKA and Procrustes residual of the shared rows (METHODS §7).",
    "vocabulary": "Token texts two tokenizers share after normalisation, and the share of them whose category is "
                  "not LATIN (METHODS §8).",
    "norms": "L2 norm of each eligible token's embedding row; per category mean ± sd and median.",
}
