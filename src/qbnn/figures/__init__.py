"""Every figure qbnn draws, in one style (:mod:`qbnn.figures.style`).

* :mod:`qbnn.figures.accuracy` -- accuracy per variant, accuracy vs λ, paired differences (``qbnn aggregate``);
* :mod:`qbnn.figures.runs` -- energy traces, weight images, margin histograms, dropout rounds (``qbnn figures``);
* :mod:`qbnn.figures.samples` -- binarised training samples (``qbnn binarise --grid``);
* :mod:`qbnn.figures.paper_b` -- paper B's table and figures (``qbnn paper-b-figures``).

Every ``plot_*`` writes one PNG atomically; run identity comes from the records, never from file names.
Tables and statistics live in :mod:`qbnn.report` and :mod:`qbnn.paired`.
"""
