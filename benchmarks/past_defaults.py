"""The default method's settings at earlier commits, as overrides of today's RemovalConfig,
shared by the benchmarks that compare with them (``bench_removal_speed.py``,
``worst_before_after.py``). A field that did not exist yet is set to what had its effect
off; older code that lacks a field leaves it out.
"""

from __future__ import annotations

# the default of commit a2c1337 (issue 14's second session)
LAST_SESSION = {"ghost_prob": 0.25, "ghost_skip": (), "over": 2.5, "texture_k": 0,
                "grow_ratio": 0.0, "hole_ratio": 0.0, "peel_linear": False, "peel_step": 2}
# before issue 14: the target's baseline ("removal speed does not drop below today's")
PRE_ISSUE = {**LAST_SESSION, "min_digit_share": 0.0, "ghost_prob": 0.0, "seam_alphas": (0.8,),
             "kmeans_sample": 500, "peel_step": 1, "node_outlier": 0.0, "node_spread": 0.0,
             "extend_steps": 0, "thin_noise": 0.0, "certainty_share": 0.0}
# the default of commit 167f413, before the mending of torn masks
BEFORE_MENDING = {"over": 2.5, "grow_ratio": 0.0, "hole_ratio": 0.0, "peel_linear": False,
                  "peel_step": 2}
# the default of commit 4f2c995, before the fill's rings came from local planes (session 8)
MEAN_RINGS = {"peel_linear": False, "peel_step": 2}
