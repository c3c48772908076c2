using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace Engine.ResNet.Data;

/// <summary>
/// The slice of the HDF5 1.10 C API that SIGNS and Keras model files need, by P/Invoke into the
/// system's libhdf5. In 1.10 hid_t is int64, herr_t and htri_t are int, hsize_t is uint64; a
/// negative result means failure and leaves a description on HDF5's error stack.
/// The wrappers (<see cref="Hdf5File"/>, <see cref="Hdf5Group"/>, <see cref="Hdf5Dataset"/>)
/// are the public face; this class only binds, loads and explains failures.
/// </summary>
/// <remarks>
/// Debian ships the serial (not thread-safe) build: use HDF5 from one thread at a time.
/// </remarks>
internal static unsafe partial class Hdf5
{
    /// <summary>Debian's soname: the runtime finds it there by itself.</summary>
    const string Library = "libhdf5_serial.so.103";

    /// <summary>Tried in order: Debian's serial build, then the names other distributions use.</summary>
    static readonly string[] Candidates = ["libhdf5_serial.so.103", "libhdf5.so.103", "libhdf5.so"];

    /// <summary>The Debian package that provides <see cref="Library"/>.</summary>
    internal const string DebianPackage = "libhdf5-103-1";

    static readonly Lock InitLock = new();
    static volatile bool _initialized;
    static nint _library;

    /// <summary>H5P_DEFAULT, H5S_ALL and H5E_DEFAULT are all 0.</summary>
    internal const long Default = 0;

    internal const uint FileReadOnly = 0x0000;   // H5F_ACC_RDONLY
    internal const uint FileTruncate = 0x0002;   // H5F_ACC_TRUNC
    internal const int FlushGlobal = 1;          // H5F_SCOPE_GLOBAL
    internal const int IndexByName = 0;          // H5_INDEX_NAME
    internal const int IterateIncreasing = 0;    // H5_ITER_INC
    internal const int ScalarSpace = 0;          // H5S_SCALAR
    internal const int SimpleSpace = 1;          // H5S_SIMPLE
    internal const int NullSpace = 2;            // H5S_NULL
    internal const int StringPadNullTerminated = 0; // H5T_STR_NULLTERM
    internal const int StringPadNull = 1;        // H5T_STR_NULLPAD: NumPy's fixed-length 'S' strings
    internal const int StringPadSpace = 2;       // H5T_STR_SPACEPAD
    internal const int CharsetAscii = 0;         // H5T_CSET_ASCII
    internal const int CharsetUtf8 = 1;          // H5T_CSET_UTF8
    internal const int IdGroup = 2;              // H5I_GROUP
    internal const int IdDataset = 5;            // H5I_DATASET
    internal static readonly nuint VariableSize = nuint.MaxValue; // H5T_VARIABLE, (size_t)-1

    // H5T_NATIVE_* and friends are not constants but library globals, valid after H5open().
    internal static long NativeUInt8, NativeInt32, NativeInt64, NativeFloat, NativeDouble;
    internal static long FileUInt8, FileInt32, FileInt64, FileFloat32, FileFloat64;
    internal static long CString;
    /// <summary>A link-creation property list that creates missing intermediate groups.</summary>
    internal static long CreateIntermediateGroups;

    /// <summary>
    /// Loads libhdf5, starts it and silences its own error printing (failures become exceptions
    /// instead). Every entry point calls this before its first HDF5 call.
    /// </summary>
    internal static void Initialize()
    {
        if (_initialized) return;
        lock (InitLock)
        {
            if (_initialized) return;
            _library = LoadLibrary();
            // A resolving handler, not SetDllImportResolver: an assembly can have only one
            // resolver, and other native bindings in this assembly may want theirs.
            AssemblyLoadContext.GetLoadContext(typeof(Hdf5).Assembly)!.ResolvingUnmanagedDll +=
                (_, name) => name == Library ? _library : 0;

            if (H5open() < 0) throw new InvalidOperationException("libhdf5 failed to initialise (H5open)");
            H5Eset_auto2(Default, null, null);

            NativeUInt8 = Global("H5T_NATIVE_UINT8_g");
            NativeInt32 = Global("H5T_NATIVE_INT_g");
            NativeInt64 = Global("H5T_NATIVE_INT64_g");
            NativeFloat = Global("H5T_NATIVE_FLOAT_g");
            NativeDouble = Global("H5T_NATIVE_DOUBLE_g");
            FileUInt8 = Global("H5T_STD_U8LE_g");
            FileInt32 = Global("H5T_STD_I32LE_g");
            FileInt64 = Global("H5T_STD_I64LE_g");
            FileFloat32 = Global("H5T_IEEE_F32LE_g");
            FileFloat64 = Global("H5T_IEEE_F64LE_g");
            CString = Global("H5T_C_S1_g");

            long linkCreate = H5Pcreate(Global("H5P_CLS_LINK_CREATE_ID_g"));
            if (linkCreate < 0 || H5Pset_create_intermediate_group(linkCreate, 1) < 0)
                throw new InvalidOperationException("libhdf5: cannot make a link-creation property list: " + TakeErrorStack());
            CreateIntermediateGroups = linkCreate;
            _initialized = true;
        }
    }

    static nint LoadLibrary()
    {
        foreach (var name in Candidates)
            if (NativeLibrary.TryLoad(name, out nint handle)) return handle;
        throw new DllNotFoundException(
            $"The HDF5 library could not be loaded (tried {string.Join(", ", Candidates)}). " +
            $"Install the Debian package {DebianPackage} (apt-get install {DebianPackage}).");
    }

    static long Global(string name) => *(long*)NativeLibrary.GetExport(_library, name);

    /// <summary>The memory type HDF5 converts to when reading into, or from when writing, a T.</summary>
    internal static long MemoryType<T>() where T : unmanaged =>
        typeof(T) == typeof(byte) ? NativeUInt8
        : typeof(T) == typeof(int) ? NativeInt32
        : typeof(T) == typeof(long) ? NativeInt64
        : typeof(T) == typeof(float) ? NativeFloat
        : typeof(T) == typeof(double) ? NativeDouble
        : throw new NotSupportedException($"HDF5 element type {typeof(T).Name}: use byte, int, long, float or double");

    /// <summary>The little-endian file type a T is stored as (what h5py writes on x86 and ARM).</summary>
    internal static long FileType<T>() where T : unmanaged =>
        typeof(T) == typeof(byte) ? FileUInt8
        : typeof(T) == typeof(int) ? FileInt32
        : typeof(T) == typeof(long) ? FileInt64
        : typeof(T) == typeof(float) ? FileFloat32
        : typeof(T) == typeof(double) ? FileFloat64
        : throw new NotSupportedException($"HDF5 element type {typeof(T).Name}: use byte, int, long, float or double");

    /// <summary>
    /// An exception for a failed call: the file, what was being done, and HDF5's own account of
    /// why (its error stack, which this clears).
    /// </summary>
    internal static Hdf5Exception Failure(string file, string action, string? objectName = null)
    {
        string why = TakeErrorStack();
        return new Hdf5Exception(file, objectName, why.Length == 0 ? $"cannot {action}" : $"cannot {action}: {why}");
    }

    /// <summary>
    /// HDF5's reason for the latest failure, cleared from its stack once read: the innermost
    /// error, which says why ("object 'x' doesn't exist", "truncated file: eof = 100, ...");
    /// the outer ones only repeat, call by call, that something failed.
    /// </summary>
    internal static string TakeErrorStack()
    {
        var innermost = new StrongBox<string?>();
        var gc = GCHandle.Alloc(innermost);
        try
        {
            H5Ewalk2(Default, WalkUpward, &KeepFirstError, (void*)GCHandle.ToIntPtr(gc));
        }
        finally
        {
            gc.Free();
            H5Eclear2(Default);
        }
        return innermost.Value ?? "";
    }

    const int WalkUpward = 0; // H5E_WALK_UPWARD: from where it failed up to the API call

    [StructLayout(LayoutKind.Sequential)]
    internal struct ErrorRecord // H5E_error2_t
    {
        public long ClassId, Major, Minor;
        public uint Line;
        public byte* Function, File, Description;
    }

    /// <summary>H5E_walk2_t: keeps the first record it sees, which walking upward is the innermost.</summary>
    [UnmanagedCallersOnly]
    static int KeepFirstError(uint depth, ErrorRecord* record, void* state)
    {
        // An exception must not unwind into C: stop the walk instead.
        try
        {
            var box = (StrongBox<string?>)GCHandle.FromIntPtr((nint)state).Target!;
            if (box.Value is not null) return 0;
            // Some descriptions carry ctime()'s newline.
            string description = string.Join(' ', (Marshal.PtrToStringUTF8((nint)record->Description) ?? "")
                .Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            // The minor message is the cause's category in HDF5's words ("Object not found").
            string minor = Message(record->Minor);
            box.Value = minor.Length == 0 || description.Contains(minor, StringComparison.OrdinalIgnoreCase) ? description
                : description.Length == 0 ? minor
                : $"{description} ({minor})";
            return 0;
        }
        catch
        {
            return -1;
        }
    }

    static string Message(long messageId)
    {
        const int size = 256;
        byte* buffer = stackalloc byte[size];
        int type;
        long n = H5Eget_msg(messageId, &type, buffer, size);
        return n > 0 ? Marshal.PtrToStringUTF8((nint)buffer)!.Trim() : "";
    }

    /// <summary>Closes an identifier of the given kind; used by <see cref="Hdf5Handle"/>.</summary>
    internal static int Close(Hdf5Kind kind, long id) => kind switch
    {
        Hdf5Kind.File => H5Fclose(id),
        Hdf5Kind.Group => H5Gclose(id),
        Hdf5Kind.Dataset => H5Dclose(id),
        Hdf5Kind.Dataspace => H5Sclose(id),
        Hdf5Kind.Datatype => H5Tclose(id),
        Hdf5Kind.Attribute => H5Aclose(id),
        Hdf5Kind.Object => H5Oclose(id),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    // --- library ---
    [LibraryImport(Library)] internal static partial int H5open();
    [LibraryImport(Library)] internal static partial int H5free_memory(nint buffer);
    [LibraryImport(Library)] internal static partial int H5Eset_auto2(long stack, void* func, void* clientData);
    [LibraryImport(Library)] internal static partial int H5Ewalk2(long stack, int direction, delegate* unmanaged<uint, ErrorRecord*, void*, int> func, void* clientData);
    [LibraryImport(Library)] internal static partial int H5Eclear2(long stack);
    [LibraryImport(Library)] internal static partial nint H5Eget_msg(long messageId, int* type, byte* message, nuint size);
    [LibraryImport(Library)] internal static partial int H5Iget_type(long id);

    // --- files ---
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Fis_hdf5(string name);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Fopen(string name, uint flags, long accessList);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Fcreate(string name, uint flags, long createList, long accessList);
    [LibraryImport(Library)] internal static partial int H5Fflush(long id, int scope);
    [LibraryImport(Library)] internal static partial int H5Fclose(long id);

    // --- groups, links, objects ---
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Gopen2(long location, string name, long accessList);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Gcreate2(long location, string name, long linkCreateList, long createList, long accessList);
    [LibraryImport(Library)] internal static partial int H5Gget_info(long group, GroupInfo* info);
    [LibraryImport(Library)] internal static partial int H5Gclose(long id);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Lexists(long location, string name, long accessList);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial nint H5Lget_name_by_idx(long location, string groupName, int indexType, int order, ulong n, byte* name, nuint size, long accessList);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Oexists_by_name(long location, string name, long accessList);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Oopen(long location, string name, long accessList);
    [LibraryImport(Library)] internal static partial int H5Oclose(long id);

    /// <summary>H5G_info_t; only the link count is used.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct GroupInfo
    {
        public int StorageType;
        public ulong LinkCount;
        public long MaxCreationOrder;
        public int Mounted; // hbool_t: one byte or an unsigned int depending on the build; padding covers both
    }

    // --- property lists ---
    [LibraryImport(Library)] internal static partial long H5Pcreate(long classId);
    [LibraryImport(Library)] internal static partial int H5Pset_create_intermediate_group(long list, uint create);

    // --- datasets ---
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Dopen2(long location, string name, long accessList);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Dcreate2(long location, string name, long type, long space, long linkCreateList, long createList, long accessList);
    [LibraryImport(Library)] internal static partial long H5Dget_space(long dataset);
    [LibraryImport(Library)] internal static partial long H5Dget_type(long dataset);
    [LibraryImport(Library)] internal static partial int H5Dread(long dataset, long memoryType, long memorySpace, long fileSpace, long transferList, void* buffer);
    [LibraryImport(Library)] internal static partial int H5Dwrite(long dataset, long memoryType, long memorySpace, long fileSpace, long transferList, void* buffer);
    [LibraryImport(Library)] internal static partial int H5Dclose(long id);

    // --- dataspaces ---
    [LibraryImport(Library)] internal static partial long H5Screate(int type);
    [LibraryImport(Library)] internal static partial long H5Screate_simple(int rank, ulong* dims, ulong* maxDims);
    [LibraryImport(Library)] internal static partial int H5Sget_simple_extent_type(long space);
    [LibraryImport(Library)] internal static partial int H5Sget_simple_extent_ndims(long space);
    [LibraryImport(Library)] internal static partial int H5Sget_simple_extent_dims(long space, ulong* dims, ulong* maxDims);
    [LibraryImport(Library)] internal static partial long H5Sget_simple_extent_npoints(long space);
    [LibraryImport(Library)] internal static partial int H5Sclose(long id);

    // --- datatypes ---
    [LibraryImport(Library)] internal static partial long H5Tcopy(long type);
    [LibraryImport(Library)] internal static partial int H5Tget_class(long type);
    [LibraryImport(Library)] internal static partial nuint H5Tget_size(long type);
    [LibraryImport(Library)] internal static partial int H5Tget_sign(long type);
    [LibraryImport(Library)] internal static partial int H5Tis_variable_str(long type);
    [LibraryImport(Library)] internal static partial int H5Tget_strpad(long type);
    [LibraryImport(Library)] internal static partial int H5Tget_cset(long type);
    [LibraryImport(Library)] internal static partial int H5Tset_size(long type, nuint size);
    [LibraryImport(Library)] internal static partial int H5Tset_strpad(long type, int pad);
    [LibraryImport(Library)] internal static partial int H5Tset_cset(long type, int charset);
    [LibraryImport(Library)] internal static partial int H5Tclose(long id);

    // --- attributes ---
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Acreate2(long location, string name, long type, long space, long createList, long accessList);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial long H5Aopen(long location, string name, long accessList);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Aexists(long location, string name);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] internal static partial int H5Adelete(long location, string name);
    [LibraryImport(Library)] internal static partial long H5Aget_space(long attribute);
    [LibraryImport(Library)] internal static partial long H5Aget_type(long attribute);
    [LibraryImport(Library)] internal static partial int H5Aread(long attribute, long memoryType, void* buffer);
    [LibraryImport(Library)] internal static partial int H5Awrite(long attribute, long memoryType, void* buffer);
    [LibraryImport(Library)] internal static partial int H5Aclose(long id);
}

/// <summary>Which H5*close releases an identifier.</summary>
internal enum Hdf5Kind { File, Group, Dataset, Dataspace, Datatype, Attribute, Object }
