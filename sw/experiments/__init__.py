"""Experiment drivers: each runs one study end to end (the audio-visual task, the BMI task,
the baselines, the SRNN-on-devices contrast, training cost, sweeps, tuning, split rotation)
and writes its figures and report, on top of the reusable library in ``rramlsm.sw``."""
