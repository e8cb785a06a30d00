"""Training tricks, each one config key under ``tricks:`` registered in TRICKS, each in its own module.

==========================  =====================================================  ============================
key                         what it does                                           options (defaults)
==========================  =====================================================  ============================
spectral_norm               spectral normalisation of D's (and G's) layers         generator (false)
gradient_penalty            weight·E[(‖∇D(x̂)‖ − center)²] added to D's loss        weight (10), center (1)
r1                          (γ/2)·E[‖∇D(x)‖²] on real data, from the logits of    gamma (10)
                            D's own pass (no extra forward)
label_smoothing             one-sided: the real target becomes real_target         real_target (0.9)
instance_noise              Gaussian noise on every D input (G's step included,    sigma (0.1), anneal_steps (1000)
                            labels left clean), σ annealed to 0
minibatch_discrimination    Salimans et al.'s closeness features before D's head   kernels (50), kernel_dim (5)
minibatch_stddev            Karras et al.'s batch std feature before D's head      group_size (0 = whole batch)
experience_replay           part of D's fake batch drawn from a history of old     size (1024), fraction (0.5)
                            fakes (random replacement); logs their mean age
d_dropout                   Dropout after every activation of D                    p (0.3)
unrolled                    G's loss against D advanced k steps, differentiated    steps (5), second_order (true)
                            through the k updates (second order) or not
pacgan                      D judges batch_size packs of m samples each            packing (2)
multi_d                     N independent discriminators, G against their mean     count (2)
ema                         sample from an EMA of G's weights                      decay (0.999), start (0)
grad_clip                   clip gradient norms of D and/or G                      max_norm_d (1), max_norm_g (1)
lr_schedule                 constant / linear / cosine learning rates              schedule (linear), final (0),
                                                                                   steps (null: the run's steps)
weight_clip                 WGAN weight clipping of D                              clip (0.01)
==========================  =====================================================  ============================

Every option's valid values are declared next to its default (``ranges``) and checked with the config.

Four classic tricks are settings rather than trick keys, because they are plain numbers or part of a network's
layer plan:

- TTUR (Heusel et al. 2017), separate learning rates: ``optimizer: {lr_g: ..., lr_d: ...}``;
- a different optimizer for G and D, and weight decay on one network ("penalising D's weights"):
  ``optimizer: {name: adam, g: {name: rmsprop}, d: {weight_decay: 1.0e-4}}`` (``ganbench.train.optim``);
- k discriminator steps per generator step: ``d_steps: k``;
- BatchNorm on/off: architecture options, ``architecture: {name: dcgan, batchnorm_g: false, batchnorm_d: false}``
  and ``architecture: {name: mlp, batchnorm_g: true}`` (the MLP discriminator has no BatchNorm); layer norm in
  DCGAN's D for a gradient penalty: ``{name: dcgan, batchnorm_d: false, layernorm_d: true}``. Where BatchNorm
  goes and whether the layer before it keeps its bias are the architecture's decisions, so a generic trick could
  only approximate them.

The hooks a trick can use, and the order in which tricks run, are described in ``ganbench.tricks.base``.
"""

from ganbench.tricks import (  # noqa: F401  (registration)
    d_dropout,
    ema,
    experience_replay,
    grad_clip,
    gradient_penalty,
    instance_noise,
    label_smoothing,
    lr_schedule,
    minibatch_discrimination,
    minibatch_stddev,
    multi_d,
    pacgan,
    r1,
    spectral_norm,
    unrolled,
    weight_clip,
)
from ganbench.tricks.base import TRICKS, Trick, build_tricks

__all__ = ["TRICKS", "Trick", "build_tricks"]
