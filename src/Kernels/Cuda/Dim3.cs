namespace Engine.Kernels.Cuda;

/// <summary>A launch's grid size (in blocks) or block size (in threads), as CUDA's dim3.</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1);
