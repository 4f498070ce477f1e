// napi_checks.h — the argument checks at the N-API boundary, shared by the native addons
// (packages/core/native/addon.cpp, packages/augment/native/addon.cpp; augment finds this header
// through "../core/native" in its binding.gyp include_dirs).
//
// Every export runs through run_checked(): the checks throw ArgError before anything is read or
// written, and it becomes a JavaScript TypeError (wrong type) or RangeError (wrong value, length or
// count) with the message "fn: field is value; allowed: what". Values are rendered as src/errors.ts
// renders them (number_text, show). The addons' tests assert these messages to the byte.
//
// Use: `using namespace napi_checks;` inside the addon's own anonymous namespace.
#ifndef MNIST_NAPI_CHECKS_H
#define MNIST_NAPI_CHECKS_H

#include <napi.h>

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

namespace napi_checks {

// A rejected argument, thrown by the checks and turned into a JavaScript TypeError (type) or
// RangeError (value, length, count) by run_checked(). Nothing has been read or written yet.
struct ArgError {
    bool type;
    std::string message;
};
// N-API refused something (an allocation) and left a JavaScript exception pending.
struct Pending {};

inline std::string format(const char* f, ...) __attribute__((format(printf, 1, 2)));
inline std::string format(const char* f, ...) {
    char buf[600];
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

// A double as JavaScript prints it (shortest round trip).
inline std::string number_text(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    if (d == std::floor(d) && std::fabs(d) < 1e21) return format("%.0f", d);
    for (int digits = 1; digits < 17; digits++) {
        std::string text = format("%.*g", digits, d);
        if (std::strtod(text.c_str(), nullptr) == d) return text;
    }
    return format("%.17g", d);
}

inline const char* typed_array_name(napi_typedarray_type type) {
    switch (type) {
        case napi_int8_array: return "Int8Array";
        case napi_uint8_array: return "Uint8Array";
        case napi_uint8_clamped_array: return "Uint8ClampedArray";
        case napi_int16_array: return "Int16Array";
        case napi_uint16_array: return "Uint16Array";
        case napi_int32_array: return "Int32Array";
        case napi_uint32_array: return "Uint32Array";
        case napi_float32_array: return "Float32Array";
        case napi_float64_array: return "Float64Array";
        case napi_bigint64_array: return "BigInt64Array";
        case napi_biguint64_array: return "BigUint64Array";
    }
    return "TypedArray";
}

// A typed array's element type, length (elements), data (at its byte offset), and whether its
// buffer is a SharedArrayBuffer.
struct View {
    napi_typedarray_type type;
    size_t length;
    void* data;
    bool shared;
};

inline View view_of(const Napi::Value& v) {
    View view = {napi_int8_array, 0, nullptr, false};
    napi_value buffer;
    bool plain = false;
    if (napi_get_typedarray_info(v.Env(), v, &view.type, &view.length, &view.data, &buffer, nullptr) != napi_ok) throw Pending{};
    if (napi_is_arraybuffer(v.Env(), buffer, &plain) != napi_ok) throw Pending{};
    view.shared = !plain;
    return view;
}

// A compact rendering of a rejected value.
inline std::string show(const Napi::Value& v) {
    switch (v.Type()) {
        case napi_undefined: return "undefined";
        case napi_null: return "null";
        case napi_boolean: return v.As<Napi::Boolean>().Value() ? "true" : "false";
        case napi_number: return number_text(v.As<Napi::Number>().DoubleValue());
        case napi_bigint: {
            Napi::String text = v.ToString();
            if (v.Env().IsExceptionPending()) throw Pending{};
            return text.Utf8Value() + "n";
        }
        case napi_string: {
            std::string text = v.As<Napi::String>().Utf8Value();
            return "\"" + (text.size() > 40 ? text.substr(0, 40) + "…" : text) + "\"";
        }
        case napi_symbol: return "a symbol";
        case napi_function: return "a function";
        default: break;
    }
    if (v.IsTypedArray()) {
        const View view = view_of(v);
        return format("%s(%zu)", typed_array_name(view.type), view.length);
    }
    if (v.IsArray()) return format("an Array(%u)", v.As<Napi::Array>().Length());
    if (v.IsArrayBuffer()) return "an ArrayBuffer";
    if (v.IsDataView()) return "a DataView";
    return "an object";
}

// One call's arguments and the export's name (the messages' "fn: ").
struct Args {
    const Napi::CallbackInfo& info;
    const char* fn;
    Napi::Value operator[](size_t i) const { return info[i]; }
};

[[noreturn]] inline void reject(const Args& a, bool type, const std::string& field, const std::string& value, const std::string& allowed) {
    throw ArgError{type, format("%s: %s is %s; allowed: %s", a.fn, field.c_str(), value.c_str(), allowed.c_str())};
}

inline void need_args(const Args& a, size_t n, const char* names) {
    if (a.info.Length() < n) {
        throw ArgError{true, format("%s: expects %zu arguments (%s); got %zu", a.fn, n, names, a.info.Length())};
    }
}

// An integer in [lo, hi] held in a double (a JavaScript number or an element of a Float64Array).
inline int64_t integer_value(const Args& a, const std::string& field, double d, int64_t lo, int64_t hi) {
    if (!(d >= (double)lo && d <= (double)hi) || d != std::floor(d)) {
        reject(a, false, field, number_text(d), format("an integer from %lld to %lld", (long long)lo, (long long)hi));
    }
    return (int64_t)d;
}

inline int64_t integer_arg(const Args& a, size_t i, const std::string& field, int64_t lo, int64_t hi) {
    const Napi::Value v = a[i];
    if (!v.IsNumber()) reject(a, true, field, show(v), format("an integer from %lld to %lld", (long long)lo, (long long)hi));
    return integer_value(a, field, v.As<Napi::Number>().DoubleValue(), lo, hi);
}

// A finite number in [lo, hi], or (lo, hi] with lo_open, or [lo, hi) with hi_open. meaning, when
// given, prefixes what is allowed ("degrees: a finite number in [0, 180]").
inline double real_value(const Args& a, const std::string& field, double d, double lo, double hi, bool lo_open, bool hi_open,
                         const char* meaning = nullptr) {
    const bool ok = (lo_open ? d > lo : d >= lo) && (hi_open ? d < hi : d <= hi);
    if (!ok) {
        reject(a, false, field, number_text(d),
               format("%s%sa finite number in %c%s, %s%c", meaning ? meaning : "", meaning ? ": " : "", lo_open ? '(' : '[',
                      number_text(lo).c_str(), number_text(hi).c_str(), hi_open ? ')' : ']'));
    }
    return d;
}

inline double real_arg(const Args& a, size_t i, const std::string& field, double lo, double hi, bool lo_open, bool hi_open,
                       const char* meaning = nullptr) {
    const Napi::Value v = a[i];
    if (!v.IsNumber()) reject(a, true, field, show(v), "a number");
    return real_value(a, field, v.As<Napi::Number>().DoubleValue(), lo, hi, lo_open, hi_open, meaning);
}

inline uint64_t seed_arg(const Args& a, size_t i, const char* field) {
    const Napi::Value v = a[i];
    if (!v.IsBigInt()) reject(a, true, field, show(v), "a bigint from 0 to 2^64-1");
    bool lossless = true;
    const uint64_t seed = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) reject(a, false, field, show(v), "a bigint from 0 to 2^64-1");
    return seed;
}

inline View array_arg(const Args& a, size_t i, const char* field, napi_typedarray_type type) {
    const Napi::Value v = a[i];
    if (!v.IsTypedArray() || view_of(v).type != type) {
        const bool an = type == napi_int8_array || type == napi_int16_array || type == napi_int32_array;
        reject(a, true, field, show(v), format("%s %s", an ? "an" : "a", typed_array_name(type)));
    }
    return view_of(v);
}

// Arrays whose values decide addresses (labels, indices, maps) must not be shared: another thread
// could change a value between its check and its use.
inline void need_unshared(const Args& a, const char* field, const View& v) {
    if (v.shared) {
        reject(a, true, field, format("%s(%zu) over a SharedArrayBuffer", typed_array_name(v.type), v.length),
               format("a %s over an ArrayBuffer: another thread could change a value after its check", typed_array_name(v.type)));
    }
}

inline void need_length(const Args& a, const char* field, const View& v, uint64_t needed, const std::string& what) {
    if ((uint64_t)v.length < needed) {
        reject(a, false, format("%s.length", field), format("%zu", v.length),
               format("at least %s = %llu", what.c_str(), (unsigned long long)needed));
    }
}

// A value N-API made (an array, a typed array), or Pending when it could not.
template <typename T>
T made(const Napi::Env& env, T value) {
    if (env.IsExceptionPending()) throw Pending{};
    return value;
}

typedef Napi::Value (*Entry)(const Napi::CallbackInfo&);

// Runs one export so that argument errors become JavaScript exceptions, never a crash. addon names
// the module in the out-of-memory message ("mnist_core: out of memory").
inline Napi::Value run_checked(const char* addon, Entry f, const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
        return f(info);
    } catch (const ArgError& e) {
        if (e.type) Napi::TypeError::New(env, e.message).ThrowAsJavaScriptException();
        else Napi::RangeError::New(env, e.message).ThrowAsJavaScriptException();
    } catch (const Pending&) {
        // the exception N-API left pending is the call's result
    } catch (const std::bad_alloc&) {
        char text[160];  // not a std::string: memory has just run out
        snprintf(text, sizeof text, "%s: out of memory", addon);
        Napi::RangeError::New(env, text).ThrowAsJavaScriptException();
    }
    return env.Undefined();
}

}  // namespace napi_checks

#endif  // MNIST_NAPI_CHECKS_H
