"""Training methods: MoCo (+ i-Mix), Cross-Modal Manifold CutMix, and the stage schedule."""
