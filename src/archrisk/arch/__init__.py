"""Architectures: genotypes, cell networks, hand-designed families and the registry."""
from archrisk.arch.genotype import CellStats, Genotype, random_genotype
from archrisk.arch.zoo import (SIZES, ArchSpec, Classifier, build, count_flops, count_params,
                               list_models, match_width, resolve)

__all__ = ["ArchSpec", "CellStats", "Classifier", "Genotype", "SIZES", "build", "count_flops",
           "count_params", "list_models", "match_width", "random_genotype", "resolve"]
