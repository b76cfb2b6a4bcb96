"""Figures, the ipywidgets explorer and the diagnostics notebooks show."""
