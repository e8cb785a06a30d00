"""Training: the GAN step (gan.py), the generic loop (trainer.py), checkpoints and one benchmark run (run.py)."""
