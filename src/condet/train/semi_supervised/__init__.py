"""Semi-supervised Faster R-CNN: a teacher labels the unlabelled images for a student
(``condet detect-train --semi``).

Every step trains on a batch of labelled images (the supervised loss of ``detect-train``) and a
batch of ``--unlabeled-ratio`` times as many unlabelled ones, whose targets are a teacher's
boxes scoring at least ``--pseudo-threshold``, strongly augmented
(:class:`~condet.data.strong_augmentation.StrongAugmentation`); the loss is the supervised one
plus ``--unsupervised-weight`` times the unsupervised one. Two recipes:

- ``mean-teacher``, Unbiased Teacher (Liu et al., ICLR 2021): after a burn-in on the labelled
  images (``--burn-in-steps``, or a finished detector given as ``--teacher``), the teacher is a
  copy of the student that then follows it as an exponential moving average (``--ema-rate``);
  it labels each unlabelled batch on the fly, flipped only (the weak view), and the student
  learns from the pseudo-labels of the strong view only the RPN's objectness and the box
  classification: their box regression is unreliable, as the paper argues. The teacher is the
  model evaluated and saved.
- ``pseudo-labels``, STAC (Sohn et al. 2020): a finished detector (``--teacher``) labels the
  unlabelled images once (``RUN/pseudo_labels.json``), and a new student trains on them with
  every loss.

Data order and augmentation are functions of the seed and the step, and the teacher is part of
the checkpoint, so ``--resume`` continues exactly, as for supervised training.

The package in four parts: :mod:`.batches` (a labelled and an unlabelled batch per step),
:mod:`.teacher_student` (the Lightning module), :mod:`.offline_labels` (STAC's pseudo-labels,
made once) and :mod:`.prepare` (a run's teacher checked, its batches made, its summary).
"""
