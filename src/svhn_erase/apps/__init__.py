"""What the commands run, on top of the stages.

- ``erase``: a whole split or one photo erased, with masks and ``timing.json``;
- ``explain``: the original slides' figures for one image;
- ``demo``: the whole mission on generated data, with a benchmark report.
"""
