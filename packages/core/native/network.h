// network.h — a fully connected network over flat float32 buffers, in the manner of llm.c.
//
// Parameter layout (one contiguous float32 buffer, L = number of weight layers = sizes.length-1):
//   for l = 0 .. L-1:   W_l  (sizes[l+1], sizes[l])  row-major: row j = neuron j of layer l+1,
//                                                     column k = input k (as network2.py's weights)
//                       b_l  (sizes[l+1])
// Gradients and velocities use the same layout in buffers of the same length.
//
// Activations are batch-major: a (B, n) buffer holds B examples of n units, row i = example i.
// Hidden layers use net->activation; the output layer is fixed by the cost:
//   COST_QUADRATIC      sigmoid output, delta = (a-y) * sigma'(z)
//   COST_CROSS_ENTROPY  sigmoid output, delta = a-y
//   COST_LOG_LIKELIHOOD softmax output, delta = a-y
//
// Every function here trusts its arguments: addon.cpp checks them at the N-API boundary (types,
// counts, buffer lengths, index ranges) and the TypeScript wrapper before that.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define MAX_LAYERS 16  // weight layers; the TypeScript side allows at most this many

enum { ACT_SIGMOID = 0, ACT_TANH = 1, ACT_RELU = 2 };
// The layout's cost: costCodes[...].native in src/options.ts (test/costs.test.ts checks they agree).
enum { COST_QUADRATIC = 0, COST_CROSS_ENTROPY = 1, COST_LOG_LIKELIHOOD = 2 };

typedef struct {
    int L;
    int sizes[MAX_LAYERS + 1];
    int activation;
    int cost;
    size_t w_off[MAX_LAYERS];
    size_t b_off[MAX_LAYERS];
    size_t num_params;
    int max_width;    // widest layer after the input
    size_t max_w;     // most weights in one layer
} Net;

// Scratch for up to B examples, carved from one float buffer (acts_floats tells its size).
typedef struct {
    int B;
    int dropout;                   // set by network_forward: masks applied this pass
    float* x;                      // (B, sizes[0])  inputs converted from pixels
    float* x_next;                 // (B, sizes[0])  the next mini-batch's, converted meanwhile
    float* act[MAX_LAYERS + 1];    // act[l] (B, sizes[l]), l=1..L: layer outputs (before dropout)
    float* dropped[MAX_LAYERS + 1];// dropped[l] (B, sizes[l]), hidden l: act * mask, fed forward
    float* mask[MAX_LAYERS + 1];   // mask[l] (B, sizes[l]), hidden l: 0 or 1/(1-p)
    float* z_out;                  // (B, sizes[L]) output weighted input (for a stable cost)
    float* delta;                  // (B, max_width)
    float* dinput;                 // (B, max_width)
    float* grad_w;                 // (max_w) Nesterov needs the weight gradient on its own
    float* grad_b;                 // (max_width)
    uint8_t* labels;               // (B) a mini-batch's labels gathered through a training order
} Acts;

typedef enum { UPDATE_GRADIENT = 0, UPDATE_SGD = 1, UPDATE_MOMENTUM = 2, UPDATE_NESTEROV = 3 } UpdateKind;

// How network_backward consumes the gradient. l2 and l1 are already divided by n (training-set
// size): the regularisation gradient is l2*w + l1*sgn(w), for weights only.
typedef struct {
    UpdateKind kind;
    float eta, l2, l1, mu;
    float* buf;  // UPDATE_GRADIENT: the gradient buffer; MOMENTUM/NESTEROV: the velocities
} Update;

typedef struct {
    float eta, lambda, l1, dropout, momentum;
    int nesterov;
    int mini_batch;
    double train_size;
} HyperParams;

void net_setup(Net* net, const int* sizes, int num_sizes, int activation, int cost);
size_t acts_floats(const Net* net, int B);
void acts_carve(const Net* net, Acts* a, float* mem, int B);

void params_init(const Net* net, float* params, uint64_t seed, int large);
void inputs_from_pixels(float* x, const uint8_t* pixels, size_t n);
void dropout_masks(const Net* net, Acts* a, int B, float rate, uint64_t seed, uint64_t epoch, uint64_t batch_index);

void network_forward(const Net* net, const float* params, Acts* a, const float* x, int B, int use_dropout);
void output_delta(const Net* net, Acts* a, const uint8_t* labels, int B);
void network_backward(const Net* net, float* params, Acts* a, const float* x, int B, const Update* u);

double cost_sum(const Net* net, const Acts* a, const uint8_t* labels, int B);
int count_correct(const Net* net, const Acts* a, const uint8_t* labels, int B);
void weight_norms(const Net* net, const float* params, double* sum_sq, double* sum_abs);
// Index of the first segment (2l = W_l, 2l+1 = b_l) holding NaN or Inf, or -1.
int first_nonfinite(const Net* net, const float* params);

// Runs consecutive mini-batches of hp->mini_batch over count examples; the last may be smaller.
// Example i is row i of inputs and labels, or, given an order, row order[i] (an epoch's shuffle,
// gathered mini-batch by mini-batch: the same bits as gathering first). inputs are uint8 pixels
// (scaled by 1/255) or, if float_inputs, floats. Returns first_nonfinite(params) after the chunk.
int train_batches(const Net* net, float* params, float* velocities, Acts* a, const void* inputs, int float_inputs,
                  const uint8_t* labels, const uint32_t* order, int count, const HyperParams* hp, uint64_t seed,
                  uint64_t epoch, uint64_t first_batch);

// Batched inference over count examples with scratch for a->B at a time.
void evaluate(const Net* net, const float* params, Acts* a, const void* inputs, int float_inputs,
              const uint8_t* labels, int count, int* correct, double* cost);
void predict(const Net* net, const float* params, Acts* a, const void* inputs, int float_inputs, int count,
             float* out);
