#include "agent/agent.h"

int main(int argc, char** argv) { return wb::agent::Main(argc, argv); }
