"""Applying a kernel chain: in memory, in bands of rows, from one file to another.

:mod:`.memory` runs a chain over a whole array (alpha modes, normalization, scale and bias; each
step calls :mod:`convtool.engine`); :mod:`.bands` runs the same chain over bands of output rows
in bounded memory; :mod:`.file` takes one image file through either to one output file.
"""
