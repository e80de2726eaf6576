#pragma once
// Everything a model author needs from autograd in one include.
#include "autograd/backward.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "engine/ops.h"
#include "engine/random.h"
