"""Where the bytes of blocks live: the :class:`~.base.BlockStore` interface, one module per
backend (:mod:`.local`, :mod:`.s3`), the verified intake both backends feed a body through,
and choosing a backend from the settings (:mod:`.factory`).
"""
