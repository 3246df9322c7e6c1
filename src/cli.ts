#!/usr/bin/env node
// Layer: wiring. The `conntrack-exporter` executable.
import { run } from './main.js';

run();
