"""A memory of reviewed questions whose right tags vote: it learns from every saved review.

What it is: TF-IDF vectors (word 1-2-grams, ``ml.text.TOKEN_PATTERN``, fitted once at
training time) of remembered questions, each with its right tags and a reference (``ref``:
the site's question id, or ``"train:<row>"`` for a corpus question it was seeded with). A new
question's ``k`` most similar remembered questions (cosine) vote for their tags with weight
``similarity ** power``; a tag's score is its share of the votes, ``sum of its weights /
(weight of the best max(n, min_votes) neighbours + smoothing)``, in [0, 1], where n is how
many remembered questions carry the tag (a tag on 3 questions can have only 3 voters, so the
other 77 neighbours do not dilute it). Words the vectoriser never saw (a library
born after the training data: ``polars``) are hashed into extra columns with the idf of a
word seen once, so two reviewed questions naming it are similar at once.

``add(text, tags, ref)`` makes a question count for the very next prediction: no refit, no
restart (the vector is appended to a pending block, merged into the sparse index every
``MERGE_EVERY`` additions). A later ``add`` with the same ``ref`` replaces the earlier one (the
latest review counts); ``remove(ref)`` forgets it. Every suggestion can be traced to the
remembered questions that voted for it (``suggest_with_evidence``, ``evidence``).

How the site feeds it, how its labels grow and how the ensemble reads it: the design notes'
"The memory's interface" (docs/design.md); what it costs and learns: docs/benchmarks.md.
"""

from ml.backends.memory.index import MERGE_EVERY, Ref
from ml.backends.memory.model import ReviewMemory
from ml.backends.memory.vectors import OOV_BUCKETS, grams
from ml.backends.memory.voting import MAX_REFS, Evidenced

__all__ = ["MAX_REFS", "MERGE_EVERY", "OOV_BUCKETS", "Evidenced", "Ref", "ReviewMemory", "grams"]
