"""Adapters: implementations of the ports in ``perfectmatch.ports`` over real technologies."""
