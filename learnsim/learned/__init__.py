"""Learned modules in JAX (equinox): preconditioners, DCDM, constitutive laws, reduced-order models."""
