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

How the site uses it (issue 10; ``webapp/learning.py``)
------------------------------------------------------
- Load it like any model: ``load_predictor("memory", models_dir, options)``. Each gunicorn
  worker holds its own copy, and so does each site in one process (``ServingOptions.scope``:
  a model that ``grows_labels`` is cached per scope); the artifact holds only the vectoriser
  and the seed questions.
- **At start**, replay every saved review from the database, oldest first, in one call:
  ``model.add_many((question_text(title, body), right_tags, question_id) for ...)`` where
  ``right_tags`` are the review's accepted + added tags (canonicalised again here). 10,000
  reviews replay in ~1.3 s on top of the 37,269 seed questions (``bench/review_learning.py``),
  and hold ~0.75 MB per 1,000 reviews (traced, linear). Replay before the first
  request, and before the ensemble is built on top (see below).
- **On each saved review** (web form or ``POST /api/v1/predictions/<id>/feedback``), after the
  transaction commits: ``model.add(question_text(title, body), right_tags, ref=question_id)``.
  A review with no right tag at all removes the question (``add`` with no tags = ``remove``).
  Each worker must learn it: the worker that saved the review calls ``add``; the other
  workers must catch up before their next prediction, e.g. by polling the reviews table for
  ids/updated times newer than the last they replayed (cheap: one indexed query per request
  or a one-second timer) and calling ``add`` for each. ``add`` is thread-safe: gthread
  workers may call it while other threads predict.
- What the reviewer was shown: ``add(text, right_tags, ref, shown=accepted + rejected)``
  (the site passes it; ``add_many`` takes (text, tags, ref, shown) items). The memory counts,
  per tag, the reviewed questions that showed it and, per rejected tag, the right tags of the
  questions it was rejected on; ``replacement(tag)`` is the tag reviewers put in its place,
  once it was shown on ``MIN_SHOWN`` (10) reviewed questions and replaced by the same tag on
  ``MIN_RATE`` (half) of them; ``replacing(tag)`` is the reverse. The ensemble moves a
  replaced tag's probability onto its replacement (a renamed library: flutter -> zorblet).
- It also counts, per tag, the reviewed questions it was right on and those where the
  reviewer had to add it (it was not shown). ``missed(tag)`` flags a tag added on half or
  more of ``MIN_SHOWN`` such questions and ``MISS_MARGIN`` (0.3) more often than the serving
  ensemble missed it on validation (``expected_miss``, which the ensemble sets from its
  artifact; without it nothing is flagged): a tag the models used to find and no longer do
  (dart beside a renamed flutter), not one they always found badly. Once flagged, a review
  that showed and accepted it still counts as added, so the flag does not switch itself off
  by working. The ensemble gives a flagged tag the memory's verdict as its floor.
- Persisting reviews is the database's job: ``add`` never writes to disk.
- Evidence: ``suggest_with_evidence(texts, top_k)`` returns per suggested tag the refs of the
  remembered questions that voted for it, strongest first; ints are reviewed questions
  (link ``/history/<id>``: "because of #123, #456"), ``"train:<row>"`` strings are seed
  questions (``ref_title(ref)`` gives their title). ``reasons(text, tags)`` says the same as
  dicts (``{"kind": "reviewed", "question_id", "title", "weight"}`` or ``{"kind": "similar",
  ...}`` for a seed question): what the API and the question page show.

How labels grow (for the ensemble and anything that reads columns)
------------------------------------------------------------------
``labels`` is a list that only ever appends: a tag a reviewer added that the memory had never
seen becomes a new last column, and existing columns never move. ``thresholds`` grows first
(every tag shares the global threshold tuned on validation), so ``len(thresholds) >=
len(labels)`` always holds. ``predict_scores(texts)`` returns ``len(labels)`` columns *as of
the moment it started*: read the tag of column j as ``labels[j]`` and never assume
``scores.shape[1] == len(labels)`` afterwards. ``best_tags(texts, n)`` returns (tag, score)
pairs and needs no column bookkeeping at all.

How the ensemble uses it (``ml/ensemble.py``)
---------------------------------------------
- Its first columns are the union of its members' labels as saved (``memory.base_labels``);
  a tag only the memory proposes becomes a new last column of the ensemble too.
- It reads the memory through ``best_tags(texts, MEMBER_TOP)``, not columns; "memory knows"
  a tag once any remembered question carries it (``tag in memory.column_``).
- The combiner learned the memory's weight on validation, where the memory is a plain kNN
  member seeded with the completely tagged training questions (all-tag micro-F1 alone 0.375
  on validation, 0.383 on test; omikuji 0.445, lexical 0.461). A tag no other member knows
  (one reviewers added) hardly occurs there, so the combiner cannot be trusted with it: its
  probability is at least the memory's score rescaled so the memory's own threshold lands
  on the ensemble's (``EnsembleTagger.floors``).

Measured (``bench/review_learning.py``, 2 cores, seeded memory with 10,000 reviews: 47,469
questions): ``add`` 0.8 ms p50 / 4.7 ms p95, one suggestion 2.0 / 6.4 ms, a review shows in the
next suggestion in < 16 ms (every one of 200 tries). A library held out of training (flutter:
the vectoriser never saw the word): suggested for 0% of later flutter questions before any
review, 69% after 25 reviews, 72% after 200; all-tag micro-F1 on them 0.13 -> 0.44 (25) ->
0.41 (200) for the memory alone: below the issue's 80% / 0.60, whose reference (0.31 for a
model that never saw the tag) is the ensemble's level; the ensemble, with the memory as a
member and its replacements, reaches 90.6% / 0.621 after 200 renamed-flutter reviews
(README). Alone the memory sees only text similarity, and ~30% of later flutter titles share
nothing specific with earlier flutter questions. Weighting reviews above seed questions
(``review_weight``) trades the two: on validation (angular held out instead, validation
questions replayed as reviews; measured at power 1.5 before min_votes) a weight of 16 lifted
angular from 57% to 84% suggested, but cost 0.04 micro-F1 after 200 ordinary reviews and
0.13 after 2,000, so the default stays 1. A tag seen on one reviewed question only is not
suggested (its single vote is compared with the best 20 neighbours').
"""

from ml.memory.index import MERGE_EVERY, Ref
from ml.memory.model import ReviewMemory
from ml.memory.vectors import OOV_BUCKETS, grams
from ml.memory.voting import MAX_REFS, Evidenced

__all__ = ["MAX_REFS", "MERGE_EVERY", "OOV_BUCKETS", "Evidenced", "Ref", "ReviewMemory", "grams"]
