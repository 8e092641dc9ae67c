"""The student remover: a small network that learned the ``default`` method's digit masks.

The ``default`` method finds digits without any ground truth, but its per-crop work (k-means,
the onion-peel GRNN, distance transforms) runs a few hundred digits a second. Its masks on
real photos and generated images, kept where neighbouring settings agree and the judge no
longer sees a digit (``teacher``), train a small fully convolutional network (``net``; the
packaged student is a pair of them from two seeds, their logits averaged) with strong noise
(``train``); at run time one batched forward gives every box's mask, checked against the
crop's colours (``refine``), and the default's fill, batched across crops (``fill``; on
flat backgrounds its hole redrawn by colour first), replaces the digit.
``crops`` cuts the boxes with their context to the network's fixed size and back. The
``student`` removal method (``removal.methods.student``) puts the pieces together.
"""
