"""idg, the Infinite Data Generator: can diffusion-generated images stand in for scarce real detection data?"""

__version__ = "0.1.0"
