"""A simulated AMD RDNA3 GPU (gfx1100): the KFD driver model, PM4/SDMA queues, GPU virtual memory (memory.py)
and an ISA emulator that runs the plugin's compiled code objects (isa/)."""
