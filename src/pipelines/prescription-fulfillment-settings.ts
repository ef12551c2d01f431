import { personalFieldsOf } from '../contracts/personal';
import { prescriptionIntakeSchema } from '../contracts/prescription-events';
import { definePipelineSettings, duration } from './pipeline-settings';

const shape = {
  /**
   * How long a prescription's payment link stays open, how often its parcel is tracked, and when an
   * undelivered parcel is overdue. The bridge writes them into each run's input, so a change applies
   * to prescriptions received after it. Temporal durations: '3 days', '4 hours', '90s'.
   */
  PRESCRIPTION_PAYMENT_WINDOW: duration.default('3 days'),
  PRESCRIPTION_TRACKING_INTERVAL: duration.default('4 hours'),
  PRESCRIPTION_DELIVERY_DEADLINE: duration.default('10 days'),
};

export const prescriptionFulfillmentSettings = definePipelineSettings({
  shape,
  profiles: {
    // The demo's prescriptions end while you watch, the expiring link included.
    demo: { PRESCRIPTION_PAYMENT_WINDOW: '40 seconds', PRESCRIPTION_TRACKING_INTERVAL: '3 seconds', PRESCRIPTION_DELIVERY_DEADLINE: '10 minutes' },
    // The carrier is asked every 3 s, and a paid prescription can neither expire nor go overdue
    // under the run's faults within 15 minutes.
    chaos: { PRESCRIPTION_PAYMENT_WINDOW: '15 minutes', PRESCRIPTION_TRACKING_INTERVAL: '3s', PRESCRIPTION_DELIVERY_DEADLINE: '15 minutes' },
    // Nothing is owed in the benchmark; the carrier is asked every second, not every 4 hours.
    bench: { PRESCRIPTION_TRACKING_INTERVAL: '1s' },
  },
  // As the intake's schema marks them: patient, name, dateOfBirth, address, memberId.
  personalFields: personalFieldsOf(prescriptionIntakeSchema),
});
