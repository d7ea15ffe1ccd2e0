"""``localnorm study``: what is LRN for, and how does it differ from an activation function?

Five experiments (see docs/STUDY.md): activation vs normalization (:mod:`.exp_activation`),
conditioning (:mod:`.exp_conditioning`), generalization (:mod:`.exp_generalization`), contrast
robustness (:mod:`.exp_contrast`) and natural-image statistics (:mod:`.exp_images`), run by
:func:`localnorm.study.run.run_study` and written by :mod:`.report`. The study's packages
(matplotlib, scikit-learn, scikit-image, scipy, tqdm) are imported only when it runs.
"""
