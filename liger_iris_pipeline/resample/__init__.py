from .resample_step import ResampleStep

__all__ = ["ResampleStep"]
