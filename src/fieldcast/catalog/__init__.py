"""Catalog: suppliers, products and SKUs, inspections, the claim checker and storefronts."""
